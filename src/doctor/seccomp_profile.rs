//! `doctor --seccomp-profile FILE`: a container runtime's seccomp profile (moby's or
//! containers/common's JSON format) with the system calls bubblewrap needs allowed, so bwrap can
//! run where the profile would otherwise leave only Landlock. Everything else in the profile is
//! kept as it was: this widens exactly the calls below, for every capability set.
//!
//! Allowing `unshare` and `clone` alone is not enough: Docker's default profile never allows
//! `pivot_root` (not even with `CAP_SYS_ADMIN`) and allows `mount`/`umount2` only with it, and
//! bubblewrap needs all of them to build the sandbox's root. Creating a user namespace needs no
//! capability, so with this profile neither `--cap-add SYS_ADMIN` nor `--privileged` is needed.

use serde_json::{json, Value};

/// What bubblewrap calls to set up a sandbox: new namespaces (`clone` with namespace flags,
/// `unshare`), its mounts (`mount`, `umount2`) and the switch to the new root (`pivot_root`).
/// `clone3` is left alone: Docker answers it with ENOSYS on purpose so that libc falls back to
/// `clone`, whose flags a profile can inspect, and a second rule with another action for the same
/// call would make runc refuse the profile.
pub const BWRAP_SYSCALLS: [&str; 5] = ["clone", "unshare", "mount", "umount2", "pivot_root"];

/// Marks the rule this adds, so applying it twice changes nothing.
const COMMENT: &str = "codex-launcher: the calls bubblewrap needs to build its sandbox";

/// Why a profile cannot be patched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("not a seccomp profile: {0}")]
    NotAProfile(&'static str),
    #[error("the profile denies {name} with an unconditional rule (action {action}); remove that rule first, then run this again")]
    Conflict { name: String, action: String },
}

/// `profile` with one rule added at the front of `syscalls` that allows [`BWRAP_SYSCALLS`].
pub fn allow_bwrap(mut profile: Value) -> Result<Value, ProfileError> {
    let obj = profile.as_object_mut().ok_or(ProfileError::NotAProfile(
        "the top level is not a JSON object",
    ))?;
    if !obj.contains_key("defaultAction") {
        return Err(ProfileError::NotAProfile("it has no defaultAction"));
    }
    let rules = obj
        .entry("syscalls")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or(ProfileError::NotAProfile("syscalls is not a list"))?;
    if rules.iter().any(|r| r["comment"] == COMMENT) {
        return Ok(profile);
    }
    for rule in rules.iter() {
        if let Some(conflict) = unconditional_denial(rule) {
            return Err(conflict);
        }
    }
    rules.insert(
        0,
        json!({
            "names": BWRAP_SYSCALLS,
            "action": "SCMP_ACT_ALLOW",
            "args": [],
            "comment": COMMENT,
        }),
    );
    Ok(profile)
}

/// A rule that refuses one of ours for every caller (no argument filter, no capability or
/// architecture condition): libseccomp cannot hold it beside an unconditional allow.
fn unconditional_denial(rule: &Value) -> Option<ProfileError> {
    let action = rule["action"].as_str().unwrap_or("");
    let empty = |v: &Value| {
        v.is_null()
            || v.as_array().is_some_and(|a| a.is_empty())
            || v.as_object().is_some_and(|o| o.values().all(empty_list))
    };
    if action == "SCMP_ACT_ALLOW"
        || !empty(&rule["args"])
        || !empty(&rule["includes"])
        || !empty(&rule["excludes"])
    {
        return None;
    }
    let names = rule["names"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&rule["name"]));
    names
        .filter_map(Value::as_str)
        .find(|n| BWRAP_SYSCALLS.contains(n))
        .map(|name| ProfileError::Conflict {
            name: name.to_string(),
            action: action.to_string(),
        })
}

fn empty_list(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(|a| a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of moby's default profile, reduced to the rules that matter here (written for
    /// this test, not copied): default deny, `unshare`/`mount` only with CAP_SYS_ADMIN, `clone`
    /// without namespace flags otherwise, and no `pivot_root` at all.
    fn docker_like() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount", "umount2", "unshare", "clone"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]
        })
    }

    #[test]
    fn adds_one_rule_with_every_call_bwrap_needs() {
        let out = allow_bwrap(docker_like()).unwrap();
        let rules = out["syscalls"].as_array().unwrap();
        assert_eq!(rules.len(), 5);
        let names: Vec<&str> = rules[0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for needed in ["pivot_root", "umount2", "mount", "unshare", "clone"] {
            assert!(names.contains(&needed), "{needed} missing from {names:?}");
        }
        assert_eq!(rules[0]["action"], "SCMP_ACT_ALLOW");
        assert_eq!(
            rules[1..],
            docker_like()["syscalls"].as_array().unwrap()[..]
        );
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let once = allow_bwrap(docker_like()).unwrap();
        assert_eq!(allow_bwrap(once.clone()).unwrap(), once);
    }

    #[test]
    fn refuses_what_is_not_a_profile() {
        assert!(matches!(
            allow_bwrap(json!([1, 2])),
            Err(ProfileError::NotAProfile(_))
        ));
        assert!(matches!(
            allow_bwrap(json!({"syscalls": []})),
            Err(ProfileError::NotAProfile(_))
        ));
    }

    #[test]
    fn names_an_unconditional_denial_it_cannot_override() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["pivot_root"], "action": "SCMP_ACT_ERRNO"}]
        });
        assert_eq!(
            allow_bwrap(profile),
            Err(ProfileError::Conflict {
                name: "pivot_root".into(),
                action: "SCMP_ACT_ERRNO".into()
            })
        );
    }
}
