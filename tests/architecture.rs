//! The house's floors, checked: every `crate::` path in `src/` must point at a module on a
//! lower floor than its own (or into its own module), and no files may import each other in a
//! circle. The floors are read from the `floors` block of docs/architecture.md, so the picture
//! in the docs is the rule the code is held to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Floor of each top-level module, from docs/architecture.md.
fn floors() -> BTreeMap<String, u32> {
    let doc =
        fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md");
    let block = doc
        .split("```floors\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/architecture.md has a ```floors block");
    let mut floors = BTreeMap::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        // `floor 7 (what it is): a, b, c`
        let (head, modules) = line
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("a floor line reads `floor N (what): modules`: {line:?}"));
        let number: u32 = head
            .trim()
            .strip_prefix("floor")
            .and_then(|h| h.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a floor line starts with `floor N`: {line:?}"));
        for module in modules.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let earlier = floors.insert(module.to_owned(), number);
            assert!(earlier.is_none(), "{module} is on two floors");
        }
    }
    floors
}

/// A source file: its path under `src/`, its module path, and its text without comments.
struct Source {
    file: String,
    module: Vec<String>,
    code: String,
}

/// The items a file re-exports (`pub use path::Item`), by the name they go by there: a path
/// to such an item leads on to where it is defined.
fn reexports(code: &str) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for line in code.lines() {
        let t = line.trim_start();
        if !(t.starts_with("pub use ") || t.starts_with("pub(crate) use ")) {
            continue;
        }
        let mut trees = Vec::new();
        let tree = t.split_once("use ").map_or("", |(_, r)| r);
        expand(
            tree.split(';').next().unwrap_or(""),
            &mut Vec::new(),
            &mut trees,
        );
        for path in trees {
            if let Some(last) = path
                .last()
                .filter(|l| l.as_str() != "*" && l.as_str() != "self")
            {
                out.insert(last.clone(), path);
            }
        }
    }
    out
}

fn sources() -> Vec<Source> {
    let mut out = Vec::new();
    walk(&root().join("src"), &mut out);
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

fn walk(dir: &Path, out: &mut Vec<Source>) {
    for entry in fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        let rel = path
            .strip_prefix(root().join("src"))
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        // The binaries stand above the library and use it by its name, not `crate::`.
        if rel == "bin" || rel == "main.rs" {
            continue;
        }
        if path.is_dir() {
            walk(&path, out);
        } else if rel.ends_with(".rs") {
            let text = fs::read_to_string(&path).expect("readable source");
            out.push(Source {
                module: module_of(&rel),
                file: rel,
                code: without_comments(without_inline_tests(&text)),
            });
        }
    }
}

/// `a/b.rs` and `a/b/mod.rs` are module `a::b`; `lib.rs` is the crate root.
fn module_of(rel: &str) -> Vec<String> {
    let trimmed = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code before an inline `#[cfg(test)] mod tests { ... }` (kept at the end of a file by
/// habit): inside it `super::` means the file itself, and tests may reach anywhere.
fn without_inline_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]") {
        let at = from + i;
        let next = text[at..].lines().nth(1).unwrap_or("");
        if next.trim_start().starts_with("mod ") && next.trim_end().ends_with('{') {
            return &text[..at];
        }
        from = at + 1;
    }
    text
}

/// The code without line comments (doc comments name paths that are not imports).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut quotes = 0;
            let bytes = line.as_bytes();
            for i in 0..bytes.len() {
                match bytes[i] {
                    b'"' if i == 0 || bytes[i - 1] != b'\\' => quotes += 1,
                    b'/' if quotes % 2 == 0 && bytes.get(i + 1) == Some(&b'/') => {
                        return &line[..i];
                    }
                    _ => {}
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path the code names that starts in this crate: the expanded `use` trees, and
/// `crate::`, `super::` and `self::` paths written inline. With `faces`, the trees of `pub use`
/// too: a module's face, which hands names on without using them (a file is not tied to the
/// files it re-exports from; paths to those names lead on to where they are defined, see
/// `file_of`), but which makes its module stand above theirs.
fn paths(code: &str, faces: bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        let face = trimmed.starts_with("pub");
        if statement.is_none() && (faces || !face) {
            let visible = trimmed
                .strip_prefix("pub(crate) ")
                .or_else(|| trimmed.strip_prefix("pub(super) "))
                .or_else(|| trimmed.strip_prefix("pub "))
                .unwrap_or(trimmed);
            if let Some(tree) = visible.strip_prefix("use ") {
                statement = Some(tree.to_owned());
            }
        } else if let Some(s) = statement.as_mut() {
            s.push(' ');
            s.push_str(trimmed);
        }
        if let Some(s) = statement.take_if(|s| s.contains(';')) {
            let tree = s.split(';').next().unwrap_or("");
            expand(tree, &mut Vec::new(), &mut out);
        }
    }
    for prefix in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(prefix) {
            let start = from + i;
            from = start + prefix.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            out.push(inline_path(&code[start..]));
        }
    }
    out
}

/// The path at the start of `code`: identifiers joined by `::`.
fn inline_path(code: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = code;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            return path;
        }
        rest = &rest[ident.len()..];
        path.push(ident);
        match rest.strip_prefix("::") {
            Some(more) => rest = more,
            None => return path,
        }
    }
}

/// Expands a use tree (`a::b::{c, d::{e, f}}`) into its paths.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let pushed = push_segments(head, prefix);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        for part in split_top(inner) {
            expand(part, prefix, out);
        }
        prefix.truncate(prefix.len() - pushed);
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        let pushed = push_segments(path, prefix);
        out.push(prefix.clone());
        prefix.truncate(prefix.len() - pushed);
    }
}

fn push_segments(path: &str, prefix: &mut Vec<String>) -> usize {
    let segments: Vec<String> = path
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let n = segments.len();
    prefix.extend(segments);
    n
}

/// Splits at the commas outside braces.
fn split_top(inner: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The module path a path names from `module`, if it names this crate.
fn absolute(
    module: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => {
            let mut m = module.to_vec();
            m.pop();
            let mut rest = rest;
            while let Some(("super", more)) = rest.split_first().map(|(s, m)| (s.as_str(), m)) {
                m.pop();
                rest = more;
            }
            m.extend(rest.iter().cloned());
            return Some(m);
        }
        // A child module named without `self::` (`pub use child::Item` in a `mod.rs`).
        _ => {
            let mut child = module.to_vec();
            child.push(first.clone());
            if !modules.contains(&child) {
                return None;
            }
            module.to_vec()
        }
    };
    if !matches!(first.as_str(), "crate" | "self") {
        base.push(first.clone());
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file that defines what `path` names: the file of its longest module prefix, or, when
/// that file only re-exports the item, the file the re-export leads to.
fn file_of(path: &[String], house: &Files) -> Option<String> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let n = (1..=path.len())
            .rev()
            .find(|n| house.files.contains_key(&path[..*n]))?;
        let module = path[..n].to_vec();
        let through = path
            .get(n)
            .and_then(|item| house.reexports.get(&module)?.get(item))
            .and_then(|target| absolute(&module, target, &house.modules));
        match through {
            Some(mut target) => {
                target.extend(path[n + 1..].iter().cloned());
                path = target;
            }
            None => return house.files.get(&module).cloned(),
        }
    }
    None
}

/// The files of the crate by module path, with what each re-exports.
struct Files {
    files: HashMap<Vec<String>, String>,
    modules: BTreeSet<Vec<String>>,
    reexports: HashMap<Vec<String>, HashMap<String, Vec<String>>>,
}

struct House {
    /// Imports between files, and between top-level modules with the file that makes them.
    file_edges: BTreeMap<String, BTreeSet<String>>,
    module_edges: Vec<(String, String, String)>,
}

fn house() -> House {
    let sources = sources();
    let files: HashMap<Vec<String>, String> = sources
        .iter()
        .filter(|s| !s.module.is_empty())
        .map(|s| (s.module.clone(), s.file.clone()))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.keys().cloned().collect();
    let reexports = sources
        .iter()
        .map(|s| (s.module.clone(), reexports(&s.code)))
        .collect();
    let index = Files {
        files,
        modules,
        reexports,
    };
    let mut file_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut module_edges = Vec::new();
    for s in sources.iter().filter(|s| !s.module.is_empty()) {
        for path in paths(&s.code, true) {
            let Some(target) = absolute(&s.module, &path, &index.modules) else {
                continue;
            };
            if let Some(top) = target.first()
                && top != &s.module[0]
            {
                module_edges.push((s.module[0].clone(), top.clone(), s.file.clone()));
            }
        }
        for path in paths(&s.code, false) {
            let Some(target) = absolute(&s.module, &path, &index.modules) else {
                continue;
            };
            if let Some(file) = file_of(&target, &index)
                && file != s.file
            {
                file_edges.entry(s.file.clone()).or_default().insert(file);
            }
        }
    }
    House {
        file_edges,
        module_edges,
    }
}

fn top_modules() -> BTreeSet<String> {
    fs::read_dir(root().join("src"))
        .expect("src")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let module = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
            (!matches!(module.as_str(), "lib" | "main" | "bin")).then_some(module)
        })
        .collect()
}

#[test]
fn every_module_of_src_stands_on_one_floor_of_the_architecture_doc() {
    let floors = floors();
    let modules = top_modules();
    let unplaced: Vec<&String> = modules
        .iter()
        .filter(|m| !floors.contains_key(*m))
        .collect();
    let gone: Vec<&String> = floors.keys().filter(|m| !modules.contains(*m)).collect();
    assert!(
        unplaced.is_empty() && gone.is_empty(),
        "docs/architecture.md's floors and src/ disagree: not on a floor: {unplaced:?}; on a floor but not in src/: {gone:?}"
    );
}

#[test]
fn every_import_points_down_a_floor() {
    let floors = floors();
    let house = house();
    let mut upward: BTreeSet<String> = BTreeSet::new();
    for (from, to, file) in &house.module_edges {
        let (Some(a), Some(b)) = (floors.get(from), floors.get(to)) else {
            continue;
        };
        if a <= b {
            upward.insert(format!(
                "src/{file} ({from}, floor {a}) imports {to} (floor {b})"
            ));
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down a floor (docs/architecture.md lists the floors; move the code, or the module, so that the import points down):\n{}",
        upward.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let house = house();
    let circles = circles(&house.file_edges);
    assert!(
        circles.is_empty(),
        "files that import each other in a circle (move what both need to a third file below them):\n{}",
        circles
            .iter()
            .map(|c| {
                let ties: Vec<String> = c
                    .iter()
                    .flat_map(|a| {
                        house.file_edges[a]
                            .iter()
                            .filter(|b| c.contains(*b))
                            .map(move |b| format!("{a} -> {b}"))
                    })
                    .collect();
                format!("{}: {}", c.join(", "), ties.join("; "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The strongly connected groups of more than one file (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        let edges = w.edges;
        for next in edges.get(v).into_iter().flatten() {
            let next = next.as_str();
            if !w.index.contains_key(next) {
                visit(w, next);
                let low = w.low[v].min(w.low[next]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(next) {
                let low = w.low[v].min(w.index[next]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                group.push(top.to_owned());
                if top == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                w.found.push(group);
            }
        }
    }
    let mut w = Walk {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

#[test]
fn the_reader_of_imports_sees_grouped_nested_and_relative_paths() {
    let code = "use crate::a::{b, c::{D, e as f}};\nuse super::g;\nfn x() { crate::h::i(); }\n// use crate::not_me;\n";
    let got = paths(&without_comments(code), false);
    let want: Vec<Vec<String>> = [
        vec!["crate", "a", "b"],
        vec!["crate", "a", "c", "D"],
        vec!["crate", "a", "c", "e"],
        vec!["super", "g"],
        vec!["crate", "a"],
        vec!["crate", "h", "i"],
        vec!["super", "g"],
    ]
    .into_iter()
    .map(|p| p.into_iter().map(str::to_owned).collect())
    .collect();
    assert_eq!(got, want);
    let mut edges = BTreeMap::new();
    edges.insert("a.rs".to_owned(), BTreeSet::from(["b.rs".to_owned()]));
    edges.insert("b.rs".to_owned(), BTreeSet::from(["a.rs".to_owned()]));
    edges.insert("c.rs".to_owned(), BTreeSet::from(["a.rs".to_owned()]));
    assert_eq!(
        circles(&edges),
        vec![vec!["a.rs".to_owned(), "b.rs".to_owned()]]
    );
}

/// The longest a function of `src/` may be, from its `fn` line to its closing brace.
const MAX_FUNCTION_LINES: usize = 80;

/// Each function of `text` (its first line and name) with its length in lines. Braces are
/// counted outside strings, characters and line comments.
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else {
            continue;
        };
        let (mut depth, mut opened) = (0i64, false);
        for (n, body) in lines[start..].iter().enumerate() {
            let code = strip_literals(body);
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if !opened && code.trim_end().ends_with(';') {
                break;
            }
            if opened && depth <= 0 {
                out.push((start + 1, name.clone(), n + 1));
                break;
            }
        }
    }
    out
}

/// The name of the function a line starts, if it starts one.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let name: String = rest
        .strip_prefix("fn ")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// A line without its string and character literals and its line comment.
fn strip_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A char literal ('{', '\'') or a lifetime ('a): skip the literal only.
                let mut ahead = chars.clone();
                let first = ahead.next();
                let second = if first == Some('\\') {
                    ahead.next();
                    ahead.next()
                } else {
                    ahead.next()
                };
                if second == Some('\'') {
                    chars = ahead;
                }
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn no_function_of_src_is_over_80_lines() {
    let mut long = Vec::new();
    walk_files(&root().join("src"), &mut |rel, text| {
        for (line, name, lines) in function_lengths(text) {
            if lines > MAX_FUNCTION_LINES {
                long.push(format!("src/{rel}:{line} fn {name}: {lines} lines"));
            }
        }
    });
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them into steps that each have a name):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_function_counter_counts_bodies_and_not_braces_in_text() {
    let text = "fn a() {\n    let s = \"{{\";\n    let c = '{';\n}\n\nfn b(x: &'static str) -> u8 { 1 }\nfn c();\n";
    let got = function_lengths(text);
    assert_eq!(got, vec![(1, "a".to_owned(), 4), (6, "b".to_owned(), 1)]);
}

fn walk_files(dir: &Path, each: &mut dyn FnMut(&str, &str)) {
    for entry in fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk_files(&path, each);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root().join("src"))
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            each(&rel, &fs::read_to_string(&path).expect("readable source"));
        }
    }
}
