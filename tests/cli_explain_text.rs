//! `explain` without `--json` prints the plan as shell words: pasting the bubblewrap line into a
//! shell (or `shlex::split`) gives back exactly the argv the launch uses.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_printed_bwrap_plan_splits_back_into_its_argv() {
    let s = setup();
    let home = s.base.join("home");
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    let run = |json: bool| {
        let mut cmd = Command::new(bin());
        cmd.current_dir(&s.ws)
            .env("HOME", &home)
            .env_remove("XDG_STATE_HOME")
            .env("XDG_CACHE_HOME", &s.cache)
            .env_remove("CODEX_HOME")
            .args(["explain", "--backend", "bwrap-vendored"]);
        if json {
            cmd.arg("--json");
        }
        output(cmd.args(["--", "sh", "-c", "echo \"a b\" 'c'"]))
    };
    let text = run(false);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let line = stdout(&text)
        .lines()
        .find_map(|l| l.strip_prefix("plan: bwrap ").map(str::to_string))
        .unwrap_or_else(|| panic!("no bwrap plan line in {}", stdout(&text)));
    let words = shlex::split(&line).expect("the plan line is valid shell words");
    let json: serde_json::Value = serde_json::from_slice(&run(true).stdout).unwrap();
    let argv: Vec<String> = json["plan"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(words, argv);
    assert_eq!(words.last().unwrap(), "echo \"a b\" 'c'");
}
