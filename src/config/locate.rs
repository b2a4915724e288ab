//! Finding where a key is in the user's TOML text, so errors can say
//! "line 12: camera[1].fps: ..." instead of leaving the user to search.

use toml::de::{DeTable, DeValue};

use super::ConfigError;

/// 1-based line of the key at `path` (`["camera", "1", "fps"]`), if present.
pub fn key_line(text: &str, path: &[String]) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut span = None;
    let mut parts = path.iter().peekable();
    while let Some(part) = parts.next() {
        let (key, value) = table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == part.as_str())?;
        span = Some(key.span());
        let mut value = value.get_ref();
        if let DeValue::Array(items) = value {
            let index: usize = parts.next()?.parse().ok()?;
            let item = items.get(index)?;
            span = Some(item.span());
            value = item.get_ref();
        }
        match value {
            DeValue::Table(t) => table = t,
            _ if parts.peek().is_none() => break,
            _ => return None,
        }
    }
    span.map(|s| line_of(text, s.start))
}

/// `section.key` for every key set in the given top-level tables.
pub fn section_keys(text: &str, sections: &[&str]) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    let Ok(root) = DeTable::parse(text) else {
        return keys;
    };
    for (name, value) in root.get_ref().iter() {
        let name = name.get_ref().to_string();
        if let (true, DeValue::Table(t)) = (sections.contains(&name.as_str()), value.get_ref()) {
            keys.extend(t.iter().map(|(k, _)| format!("{name}.{}", k.get_ref())));
        }
    }
    keys
}

/// `camera[1].fps` from `["camera", "1", "fps"]`.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// Turns a serde/TOML error into one that names the key and line.
pub fn from_toml_error(text: &str, err: &toml::de::Error) -> ConfigError {
    let line = err.span().map(|s| line_of(text, s.start));
    let key = err
        .span()
        .and_then(|s| key_at(text, s.start))
        .map(|p| display_path(&p))
        .unwrap_or_else(|| "(file)".into());
    ConfigError {
        key,
        line,
        message: err.message().trim().to_string(),
    }
}

/// The path of the innermost key whose key or value covers byte `offset`.
/// Table and array-of-table spans cover only their headers, so every table
/// is searched, not only the one whose span contains the offset.
fn key_at(text: &str, offset: usize) -> Option<Vec<String>> {
    let root = DeTable::parse(text).ok()?;
    search(root.get_ref(), offset)
}

fn search(table: &DeTable<'_>, offset: usize) -> Option<Vec<String>> {
    let covers = |r: std::ops::Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
    for (key, value) in table.iter() {
        let name = key.get_ref().to_string();
        let here = covers(key.span()) || covers(value.span());
        let inner =
            match value.get_ref() {
                DeValue::Table(t) => search(t, offset).map(|p| (None, p)),
                DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| match item
                    .get_ref()
                {
                    DeValue::Table(t) => search(t, offset)
                        .or_else(|| covers(item.span()).then(Vec::new))
                        .map(|p| (Some(i), p)),
                    _ => covers(item.span()).then(|| (Some(i), Vec::new())),
                }),
                _ => None,
            };
        match inner {
            Some((index, rest)) => {
                let mut path = vec![name];
                path.extend(index.map(|i| i.to_string()));
                path.extend(rest);
                return Some(path);
            }
            None if here => return Some(vec![name]),
            None => {}
        }
    }
    None
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}
