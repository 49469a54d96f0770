//! Every `cases/fail/*.rs` must fail to compile with exactly its `.stderr`;
//! every `cases/pass/*.rs` must compile. Regenerate snapshots after a compiler
//! upgrade with `TRYBUILD=overwrite cargo test -p ui-tests` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("cases/fail/*.rs");
    t.pass("cases/pass/*.rs");
}
