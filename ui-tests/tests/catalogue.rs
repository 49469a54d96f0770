//! `README.md`'s catalogue and the files in `cases/` must agree: every case
//! is in the table, every file the table names exists, and every class of
//! mistake has both a fail and a pass case.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn case_files(kind: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("cases")
        .join(kind);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".rs"))
        .collect()
}

/// Catalogue rows: (class, fail case, pass case). The pass cell may carry a
/// remark after the file name.
fn catalogue() -> Vec<(String, String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("## The catalogue")
        .nth(1)
        .expect("README has a catalogue section");
    let section = section.split("\n## ").next().unwrap();
    let file = |cell: &str| {
        cell.trim()
            .trim_start_matches('`')
            .split('`')
            .next()
            .unwrap()
            .to_owned()
    };
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            assert_eq!(cells.len(), 5, "a catalogue row has five cells: {l}");
            let class = cells[0].trim_start_matches('|').trim().to_owned();
            (class, file(cells[3]), file(cells[4].trim_end_matches('|')))
        })
        .collect()
}

#[test]
fn the_readme_table_lists_exactly_the_cases() {
    let rows = catalogue();
    let (fails, passes) = (case_files("fail"), case_files("pass"));
    let listed_fails: BTreeSet<String> = rows.iter().map(|r| r.1.clone()).collect();
    let listed_passes: BTreeSet<String> = rows.iter().map(|r| r.2.clone()).collect();
    assert_eq!(listed_fails, fails, "fail cases vs README");
    assert_eq!(listed_passes, passes, "pass cases vs README");
    for fail in &fails {
        let stderr = fail.replace(".rs", ".stderr");
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("cases/fail")
                .join(&stderr)
                .exists(),
            "{fail} has no {stderr}"
        );
    }
}

#[test]
fn every_class_of_the_issue_has_a_fail_and_a_pass_case() {
    let mut classes: BTreeMap<u32, usize> = BTreeMap::new();
    for (class, _, _) in catalogue() {
        let class: u32 = class
            .parse()
            .unwrap_or_else(|_| panic!("class `{class}` is not a number"));
        *classes.entry(class).or_default() += 1;
    }
    let expected: Vec<u32> = (1..=12).collect();
    assert_eq!(classes.keys().copied().collect::<Vec<_>>(), expected);
}
