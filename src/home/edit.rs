//! Key-level edits of a TOML text, located by toml_edit's spans: removing a key (wherever and
//! however it is written), setting one, and spelling an inline table as dotted keys. Every byte
//! outside the edited key/value lines stays as it was: the document is never re-rendered.
//!
//! TOML puts a key, its `=` and the start of its value on one line, and nothing else before the key
//! on that line; a table header is alone on its line too. So a key/value (or a header) outside
//! inline tables is exactly the lines from its value's (header's) first line through the line its
//! value ends on, trailing comment included. Inside an inline table, only that one value is
//! re-rendered, from its own text.

use std::ops::Range;

use toml_edit::{Item, Table, Value};

/// One path segment of a [`Pattern`]: a key, or any key of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg {
    Key(&'static str),
    Any,
}

/// A key path, possibly with wildcards (`profiles.*.sandbox_mode`).
pub type Pattern = &'static [Seg];

/// A replacement of `range` (empty for an insertion) in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: Range<usize>,
    pub with: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// A prefix of the path holds a value that is not a table.
    #[error("`{0}` is not a table")]
    NotATable(String),
}

/// Applies non-overlapping edits (an edit inside another one is dropped: the outer one already
/// covers it). Insertions at one offset keep their order.
pub fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    // An insertion goes before a removal starting at the same offset.
    edits.sort_by_key(|e| (e.range.start, !e.range.is_empty()));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in edits {
        if e.range.start < at {
            continue;
        }
        out.push_str(&text[at..e.range.start]);
        out.push_str(&e.with);
        at = e.range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The whole lines `span` touches, line break included.
pub fn lines_of(text: &str, span: Range<usize>) -> Range<usize> {
    let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.end..]
        .find('\n')
        .map_or(text.len(), |i| span.end + i + 1);
    start..end
}

/// Every concrete path in `root` that `pattern` names.
pub fn expand(root: &Table, pattern: Pattern) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    walk(
        root as &dyn toml_edit::TableLike,
        pattern,
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn walk(
    table: &dyn toml_edit::TableLike,
    pattern: &[Seg],
    prefix: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    let Some((first, rest)) = pattern.split_first() else {
        return;
    };
    let keys: Vec<String> = match first {
        Seg::Key(k) => table
            .get(k)
            .map(|_| vec![(*k).to_string()])
            .unwrap_or_default(),
        Seg::Any => table.iter().map(|(k, _)| k.to_string()).collect(),
    };
    for key in keys {
        let item = table.get(&key).expect("listed key");
        prefix.push(key);
        if rest.is_empty() {
            out.push(prefix.clone());
        } else if let Some(t) = item.as_table_like() {
            walk(t, rest, prefix, out);
        }
        prefix.pop();
    }
}

/// Where an item lives: a key/value or table in the document's own tables, or somewhere inside
/// the inline table of a key/value.
enum Place<'a> {
    Item(&'a Item),
    /// The key/value holding the inline table, and the path inside it.
    Inline {
        outer: &'a Item,
        inner: Vec<String>,
    },
}

fn locate<'a>(root: &'a Table, path: &[String]) -> Result<Option<Place<'a>>, EditError> {
    let mut table = root;
    for (i, key) in path.iter().enumerate() {
        let Some(item) = table.get(key) else {
            return Ok(None);
        };
        if i + 1 == path.len() {
            return Ok(Some(Place::Item(item)));
        }
        match item {
            Item::Table(t) => table = t,
            Item::Value(Value::InlineTable(_)) => {
                return Ok(Some(Place::Inline {
                    outer: item,
                    inner: path[i + 1..].to_vec(),
                }))
            }
            _ => return Err(EditError::NotATable(path[..=i].join("."))),
        }
    }
    Ok(None)
}

/// The line ranges that make up `item`: its key/value line(s), or its header and everything
/// defined under it (dotted keys and sub-table headers included, wherever they are).
fn item_lines(text: &str, item: &Item, out: &mut Vec<Range<usize>>) {
    match item {
        Item::None => {}
        Item::Value(v) => out.extend(v.span().map(|s| lines_of(text, s))),
        Item::Table(t) => table_lines(text, t, out),
        Item::ArrayOfTables(a) => {
            for t in a.iter() {
                table_lines(text, t, out);
            }
        }
    }
}

fn table_lines(text: &str, t: &Table, out: &mut Vec<Range<usize>>) {
    if !t.is_implicit() && !t.is_dotted() {
        out.extend(t.span().map(|s| lines_of(text, s)));
    }
    for (_, child) in t.iter() {
        item_lines(text, child, out);
    }
}

/// Edits removing the items at `paths` from `text` (parsed as `root`). Paths that do not exist are
/// skipped.
pub fn remove(text: &str, root: &Table, paths: &[Vec<String>]) -> Result<Vec<Edit>, EditError> {
    let mut lines = Vec::new();
    // Removals inside one inline table are done together, on one rendering of it.
    let mut inline: Vec<(&Item, Vec<Vec<String>>)> = Vec::new();
    for path in paths {
        match locate(root, path)? {
            None => {}
            Some(Place::Item(item)) => item_lines(text, item, &mut lines),
            Some(Place::Inline { outer, inner }) => {
                match inline.iter_mut().find(|(o, _)| std::ptr::eq(*o, outer)) {
                    Some((_, list)) => list.push(inner),
                    None => inline.push((outer, vec![inner])),
                }
            }
        }
    }
    let mut edits: Vec<Edit> = lines
        .into_iter()
        .map(|range| Edit {
            range,
            with: String::new(),
        })
        .collect();
    for (outer, inners) in inline {
        let Some(span) = outer.span() else { continue };
        let mut value: Value = text[span.clone()]
            .parse()
            .expect("a parsed value parses again");
        for inner in inners {
            remove_inside(&mut value, &inner);
        }
        edits.push(Edit {
            range: span,
            with: value.to_string(),
        });
    }
    Ok(edits)
}

fn remove_inside(value: &mut Value, path: &[String]) {
    let Some(t) = value.as_inline_table_mut() else {
        return;
    };
    match path {
        [] => {}
        [last] => {
            t.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(v) = t.get_mut(first) {
                remove_inside(v, rest);
            }
        }
    }
}

/// Edits setting `path` to `value` (rendered TOML) in `text` parsed as `root`: an existing value is
/// replaced in place, an existing table removed first; a new key goes right after the header of
/// the deepest table on the path that has one (relative dotted key), else at the top of the file.
/// `newline` is the file's line break.
pub fn set(
    text: &str,
    root: &Table,
    path: &[String],
    value: &Value,
    newline: &str,
) -> Result<Vec<Edit>, EditError> {
    let rendered = value.to_string().trim().to_string();
    match locate(root, path)? {
        Some(Place::Item(Item::Value(old))) => {
            if let Some(span) = old.span() {
                return Ok(vec![Edit {
                    range: span,
                    with: rendered,
                }]);
            }
        }
        Some(Place::Inline { outer, inner }) => {
            let span = outer.span().expect("parsed values have spans");
            let mut v: Value = text[span.clone()]
                .parse()
                .expect("a parsed value parses again");
            set_inside(&mut v, &inner, value.clone()).map_err(|at| {
                EditError::NotATable(path[..path.len() - inner.len() + at + 1].to_vec().join("."))
            })?;
            return Ok(vec![Edit {
                range: span,
                with: v.to_string(),
            }]);
        }
        _ => {}
    }
    let mut edits = remove(text, root, &[path.to_vec()])?;
    let (at, rel) = insertion_point(text, root, path);
    let key = rel
        .iter()
        .map(|k| key_repr(k))
        .collect::<Vec<_>>()
        .join(".");
    edits.push(Edit {
        range: at..at,
        with: format!("{key} = {rendered}{newline}"),
    });
    Ok(edits)
}

/// Sets `path` inside an inline table; on a non-table the error is the index of the offending key.
fn set_inside(value: &mut Value, path: &[String], new: Value) -> Result<(), usize> {
    let t = value.as_inline_table_mut().ok_or(0usize)?;
    match path {
        [] => Ok(()),
        [last] => {
            t.insert(last, new);
            Ok(())
        }
        [first, rest @ ..] => {
            if t.get(first).is_none() {
                t.insert(first, Value::InlineTable(Default::default()));
            }
            let v = t.get_mut(first).expect("inserted");
            set_inside(v, rest, new).map_err(|i| i + 1)
        }
    }
}

/// Where a new key for `path` goes and the key relative to that place.
fn insertion_point<'a>(text: &str, root: &Table, path: &'a [String]) -> (usize, &'a [String]) {
    let mut best: (usize, &[String]) = (0, path);
    let mut table = root;
    for (i, key) in path[..path.len() - 1].iter().enumerate() {
        let Some(t) = table.get(key).and_then(Item::as_table) else {
            break;
        };
        if !t.is_implicit() && !t.is_dotted() {
            if let Some(span) = t.span() {
                best = (lines_of(text, span).end, &path[i + 1..]);
            }
        }
        table = t;
    }
    best
}

/// A key as TOML spells it: bare when it can be, quoted otherwise.
pub fn key_repr(key: &str) -> String {
    toml_edit::Key::new(key).display_repr().into_owned()
}

/// Edits turning the root key/value `name = { … }` into dotted keys `name.k = v`, one line each,
/// so the launcher can add its own `name.…` keys next to them.
pub fn dot_inline(text: &str, root: &Table, name: &str, newline: &str) -> Option<Edit> {
    let item = root.get(name)?;
    let span = item.as_inline_table()?.span()?;
    let value: Value = text[span.clone()].parse().ok()?;
    let table = value.as_inline_table()?;
    let mut with = String::new();
    flatten_inline(&key_repr(name), table, newline, &mut with);
    Some(Edit {
        range: lines_of(text, span),
        with,
    })
}

fn flatten_inline(prefix: &str, t: &toml_edit::InlineTable, newline: &str, out: &mut String) {
    for (k, v) in t.iter() {
        let key = format!("{prefix}.{}", key_repr(k));
        match v.as_inline_table() {
            Some(inner) if !inner.is_empty() => flatten_inline(&key, inner, newline, out),
            _ => out.push_str(&format!("{key} = {}{newline}", v.to_string().trim())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> toml_edit::Document<&str> {
        toml_edit::Document::parse(text).unwrap()
    }

    fn removed(text: &str, path: &str) -> String {
        let d = doc(text);
        let path: Vec<String> = path.split('.').map(String::from).collect();
        apply(text, remove(text, d.as_table(), &[path]).unwrap())
    }

    #[test]
    fn removal_takes_exactly_the_key_in_every_form() {
        assert_eq!(removed("a = 1 # c\r\nb = 2\r\n", "a"), "b = 2\r\n");
        assert_eq!(
            removed("x.a = 1\nx.b = 2\n", "x.a"),
            "x.b = 2\n",
            "dotted keys stay dotted"
        );
        assert_eq!(
            removed("# keep\n[p]\nq = 1\n[p.r]\ns = [\n 1,\n]\n[z]\n", "p"),
            "# keep\n[z]\n"
        );
        assert_eq!(
            removed("t = { a = 1, b = { c = 2, d = 3 } } # c\n", "t.b.c"),
            "t = { a = 1, b = { d = 3 } } # c\n"
        );
        assert_eq!(removed("[[a]]\nx = 1\n[[a]]\ny = 2\n", "a"), "");
        assert_eq!(removed("a = 1", "a"), "");
    }

    #[test]
    fn setting_replaces_in_place_or_adds_under_the_nearest_header() {
        let set_ = |text: &str, path: &str, v: &str| {
            let d = doc(text);
            let path: Vec<String> = path.split('.').map(String::from).collect();
            let v: Value = v.parse().unwrap();
            set(text, d.as_table(), &path, &v, "\n").map(|e| apply(text, e))
        };
        assert_eq!(set_("a = 1 # c\n", "a", "2").unwrap(), "a = 2 # c\n");
        assert_eq!(
            set_("x = 0\n[t]\nb = 1\n", "t.u.v", "'s'").unwrap(),
            "x = 0\n[t]\nu.v = 's'\nb = 1\n"
        );
        assert_eq!(set_("[t]\n", "n", "1").unwrap(), "n = 1\n[t]\n");
        assert_eq!(
            set_("t = { a = 1 }\n", "t.b", "2").unwrap(),
            "t = { a = 1 , b = 2 }\n"
        );
        assert_eq!(
            set_("a = 1\n", "a.b", "2"),
            Err(EditError::NotATable("a".into()))
        );
        assert_eq!(set_("[a]\nb = 1\n", "a", "3").unwrap(), "a = 3\n");
    }

    #[test]
    fn inline_tables_become_dotted_keys() {
        let text = "x = 1\nf = { a = 1, \"b c\" = { d = true } } # c\ny = 2\n";
        let d = doc(text);
        let e = dot_inline(text, d.as_table(), "f", "\n").unwrap();
        assert_eq!(
            apply(text, vec![e]),
            "x = 1\nf.a = 1\nf.\"b c\".d = true\ny = 2\n"
        );
    }
}
