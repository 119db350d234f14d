use super::*;

fn tree(files: &[&str]) -> Vec<Entry> {
    // Every parent directory of every file, then the files.
    let mut entries = std::collections::BTreeSet::new();
    for f in files {
        let (path, kind) = match f.strip_suffix('@') {
            Some(link) => (link, EntryKind::Symlink),
            None => (*f, EntryKind::File),
        };
        let mut dir = String::new();
        for name in path.split('/').collect::<Vec<_>>().split_last().map(|(_, d)| d.to_vec()).unwrap_or_default() {
            dir = if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
            entries.insert(Entry::new(dir.clone(), EntryKind::Dir));
        }
        entries.insert(Entry::new(path, kind));
    }
    entries.into_iter().collect()
}

fn sel(files: &[&str]) -> Selection {
    Selection { files: files.iter().map(|s| s.to_string()).collect(), ..Selection::default() }
}

fn dests(selection: &Selection, entries: &[Entry]) -> Vec<String> {
    selection.select(entries).unwrap().into_iter().map(|s| s.dest).collect()
}

const SRC: &[&str] = &[
    "README.md",
    ".env",
    "target/app.jar",
    "target/classes/com/App.class",
    "target/classes/.hidden/x",
    "my-build-1/my-file-1.txt",
    "my-build-2/my-file-2.txt",
    "my-build-2/my-subdirectory/my-file-3.txt",
];

#[test]
fn globs_as_the_guide_describes_them() {
    let t = tree(SRC);
    // '**/*': all files recursively, dot files included.
    assert_eq!(dests(&sel(&["**/*"]), &t).len(), SRC.len());
    // 'd/*': the files directly in d.
    assert_eq!(dests(&sel(&["target/*"]), &t), ["target/app.jar"]);
    // 'd/**/*': all files under d.
    assert_eq!(
        dests(&sel(&["target/**/*"]), &t),
        ["target/app.jar", "target/classes/.hidden/x", "target/classes/com/App.class"]
    );
    // A single file, in a subdirectory, with ./ in front.
    assert_eq!(dests(&sel(&["./target/app.jar", "README.md"]), &t), ["README.md", "target/app.jar"]);
    // A directory by itself selects nothing.
    assert!(dests(&sel(&["target"]), &t).is_empty());
    // ? and classes.
    assert_eq!(dests(&sel(&["my-build-[0-1]/*.txt"]), &t), ["my-build-1/my-file-1.txt"]);
    assert_eq!(dests(&sel(&["my-build-?/my-file-[!1].txt"]), &t), ["my-build-2/my-file-2.txt"]);
    // The same file through two patterns is taken once.
    assert_eq!(dests(&sel(&["target/*", "**/*.jar"]), &t), ["target/app.jar"]);
}

#[test]
fn base_directory_examples_from_the_guide() {
    let t = tree(SRC);
    // files '*/my-file-3.txt' with base-directory my-build-2 → my-subdirectory/my-file-3.txt
    let s = Selection { base_directory: Some("my-build-2".into()), ..sel(&["*/my-file-3.txt"]) };
    assert_eq!(dests(&s, &t), ["my-subdirectory/my-file-3.txt"]);
    // '**/*' with base-directory 'my-build*' and discard-paths → the three files, flat.
    let s = Selection { base_directory: Some("my-build*".into()), discard_paths: true, ..sel(&["**/*"]) };
    assert_eq!(dests(&s, &t), ["my-file-1.txt", "my-file-2.txt", "my-file-3.txt"]);
    let picked = s.select(&t).unwrap();
    assert_eq!(picked[2].source, "my-build-2/my-subdirectory/my-file-3.txt");
    // A deeper base directory (the guide's reports example).
    let s = Selection { base_directory: Some("target/classes/".into()), ..sel(&["**/*"]) };
    assert_eq!(dests(&s, &t), [".hidden/x", "com/App.class"]);
    // A base directory that does not exist selects nothing.
    let s = Selection { base_directory: Some("nope".into()), ..sel(&["**/*"]) };
    assert!(dests(&s, &t).is_empty());
}

#[test]
fn discard_paths_flattens() {
    let t = tree(SRC);
    let s = Selection { discard_paths: true, ..sel(&["target/classes/com/*"]) };
    assert_eq!(dests(&s, &t), ["App.class"]);
}

#[test]
fn exclude_paths_relative_to_the_base_directory() {
    let t = tree(SRC);
    let all_but = |excludes: &[&str]| Selection {
        exclude_paths: excludes.iter().map(|s| s.to_string()).collect(),
        ..sel(&["**/*"])
    };
    // Dot files, anywhere.
    let d = dests(&all_but(&["**/.*"]), &t);
    assert!(!d.contains(&".env".to_string()) && d.contains(&"README.md".to_string()));
    // Dot folders.
    let d = dests(&all_but(&["**/.*/**/*"]), &t);
    assert!(!d.contains(&"target/classes/.hidden/x".to_string()) && d.contains(&".env".to_string()));
    // Relative to the base directory.
    let s = Selection {
        base_directory: Some("target".into()),
        exclude_paths: vec!["classes/**/*".into()],
        ..sel(&["**/*"])
    };
    assert_eq!(dests(&s, &t), ["app.jar"]);
}

#[test]
fn collisions_and_no_match_are_errors() {
    let t = tree(&["a/x.txt", "b/x.txt"]);
    let s = Selection { discard_paths: true, ..sel(&["**/*"]) };
    assert_eq!(
        s.select(&t).unwrap_err(),
        SelectionError::Collision { dest: "x.txt".into(), first: "a/x.txt".into(), second: "b/x.txt".into() }
    );
    let e = sel(&["dist/**/*"]).select_required(&t).unwrap_err();
    assert_eq!(e.to_string(), "no matching artifact paths found (files: dist/**/*)");
    let s = Selection { base_directory: Some("out".into()), ..sel(&["**/*"]) };
    assert_eq!(
        s.select_required(&t).unwrap_err().to_string(),
        "no matching artifact paths found (files: **/*; base-directory: out)"
    );
}

#[test]
fn symlinks_are_selected_as_links() {
    let t = tree(&["a/real.txt", "a/link@"]);
    let picked = sel(&["**/*"]).select(&t).unwrap();
    assert_eq!(picked.len(), 2);
    assert_eq!(picked[0], Selected { source: "a/link".into(), dest: "a/link".into(), kind: EntryKind::Symlink });
}

#[test]
fn secondary_artifacts_select_independently() {
    let spec = crate::parse(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands: [make]\nartifacts:\n  files: ['**/*']\n  secondary-artifacts:\n    jar:\n      files: [target/*.jar]\n      discard-paths: yes\n    docs:\n      files: ['**/*.md']\n",
    )
    .unwrap();
    let t = tree(SRC);
    let artifacts = spec.artifacts.unwrap();
    assert_eq!(dests(&artifacts.primary.selection, &t).len(), SRC.len());
    let by_id: Vec<(&str, Vec<String>)> =
        artifacts.secondary.iter().map(|(id, a)| (id.as_str(), dests(&a.selection, &t))).collect();
    assert_eq!(by_id, [("jar", vec!["app.jar".to_string()]), ("docs", vec!["README.md".to_string()])]);
}

#[test]
fn cache_paths_split_into_a_directory_and_a_pattern() {
    assert_eq!(split_pattern("/root/.m2/**/*"), ("/root/.m2", "**/*"));
    assert_eq!(split_pattern("node_modules/**/*"), ("node_modules", "**/*"));
    assert_eq!(split_pattern("./vendor/*"), ("vendor", "*"));
    assert_eq!(split_pattern("a/b.txt"), ("a", "b.txt"));
    assert_eq!(split_pattern("b.txt"), ("", "b.txt"));
    assert_eq!(split_pattern("**/*"), ("", "**/*"));
    assert_eq!(split_pattern("/x"), ("/", "x"));
    assert_eq!(split_pattern("a/b*/c"), ("a", "b*/c"));
}

#[test]
fn matching_edge_cases() {
    assert!(matches("**/*", "a"));
    assert!(matches("**", "a/b"));
    assert!(matches("a/**/b", "a/b"));
    assert!(matches("a/**/b", "a/x/y/b"));
    assert!(!matches("a/*", "a/b/c"));
    assert!(!matches("*.txt", "a/b.txt"));
    assert!(matches("*", ".env"));
    assert!(matches("a\\*b", "a*b"));
    assert!(!matches("a\\*b", "axb"));
    assert!(matches("[", "["));
    assert!(!matches("", "a"));
    // A long path with many ** does not blow up.
    let deep = vec!["x"; 200].join("/");
    assert!(matches("**/".repeat(50).trim_end_matches('/'), &deep));
    assert!(!matches(&format!("{}/y", "**/".repeat(50).trim_end_matches('/')), &deep));
    assert!(!matches(&"*a".repeat(30), &"a".repeat(29)));
}

#[test]
fn walk_lists_without_following_links() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/f.txt"), "x").unwrap();
    std::fs::write(root.join("top"), "x").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("a/out")).unwrap();
    std::os::unix::fs::symlink("b/f.txt", root.join("a/in")).unwrap();
    let entries = walk(root).unwrap();
    assert_eq!(
        entries,
        vec![
            Entry::new("a", EntryKind::Dir),
            Entry::new("a/b", EntryKind::Dir),
            Entry::new("a/b/f.txt", EntryKind::File),
            Entry::new("a/in", EntryKind::Symlink),
            Entry::new("a/out", EntryKind::Symlink),
            Entry::new("top", EntryKind::File),
        ]
    );
    // Nothing under the link to the outside directory.
    assert!(!entries.iter().any(|e| e.path.contains("secret")));
    assert!(walk(&root.join("missing")).unwrap().is_empty());
    let picked = sel(&["a/**/*"]).select(&entries).unwrap();
    assert_eq!(picked.iter().map(|s| s.dest.as_str()).collect::<Vec<_>>(), ["a/b/f.txt", "a/in", "a/out"]);
}

#[test]
fn report_group_selection() {
    let spec = crate::parse(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands: [make]\nreports:\n  unit:\n    files: ['**/*']\n    base-directory: target/classes\n    discard-paths: yes\n",
    )
    .unwrap();
    assert_eq!(dests(&spec.reports[0].selection(), &tree(SRC)), ["App.class", "x"]);
}
