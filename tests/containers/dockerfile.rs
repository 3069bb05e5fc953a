//! Just enough of a Dockerfile reader for deploy/Dockerfile: stages and their instructions, with
//! line continuations and comments handled. The container tests take the runtime stage's USER,
//! ENV HOME, WORKDIR and ENTRYPOINT from it, so the podman runs use what the image declares.

use std::path::Path;

#[derive(Debug, Clone)]
pub struct Stage {
    pub base: String,
    pub name: Option<String>,
    /// (INSTRUCTION in upper case, the rest of the line).
    pub instructions: Vec<(String, String)>,
}

impl Stage {
    /// The last value of `instruction` in this stage.
    pub fn last(&self, instruction: &str) -> Option<&str> {
        self.instructions
            .iter()
            .rev()
            .find(|(i, _)| i == instruction)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, instruction: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.instructions
            .iter()
            .filter(move |(i, _)| i == instruction)
            .map(|(_, v)| v.as_str())
    }

    /// `ENV KEY=value` (the last one for `key`).
    pub fn env(&self, key: &str) -> Option<String> {
        self.all("ENV")
            .flat_map(|v| v.split_whitespace())
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.trim_matches('"').to_string())
            .last()
    }

    /// The exec-form ENTRYPOINT as argv.
    pub fn entrypoint(&self) -> Vec<String> {
        let raw = self.last("ENTRYPOINT").unwrap_or("[]");
        serde_json::from_str(raw).expect("ENTRYPOINT is in exec (JSON) form")
    }
}

pub fn parse(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Docker drops comment lines even inside a continued instruction.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(trimmed);
        let full = std::mem::take(&mut logical);
        let (instr, rest) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        let instr = instr.to_ascii_uppercase();
        let rest = rest.trim().to_string();
        if instr == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            stages.push(Stage {
                base: words.first().unwrap_or(&"").to_string(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((instr, rest));
        }
    }
    stages
}

pub fn load(path: &Path) -> Vec<Stage> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(&text)
}

/// deploy/Dockerfile of this checkout.
pub fn repo_dockerfile() -> Vec<Stage> {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile"))
}
