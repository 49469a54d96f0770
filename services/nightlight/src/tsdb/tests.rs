use promql_parser::label::{MatchOp, Matcher};

use super::*;

fn labels(name: &str, job: &str) -> Labels {
    Labels::from_pairs([(NAME, name), ("job", job)])
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value)
}

fn all(db: &Db, matchers: &[&Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut budget = usize::MAX;
    db.select(matchers, mint, maxt, &mut budget, usize::MAX)
        .expect("select")
}

#[test]
fn samples_survive_a_reopen_whether_in_chunks_or_the_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples: Vec<(Labels, i64, f64)> = (0..1000)
        .flat_map(|i| {
            [
                (labels("a", "x"), i * 15_000, i as f64),
                (labels("b", "y"), i * 15_000, -(i as f64) / 3.0),
            ]
        })
        .collect();
    {
        let db = Db::open(dir.path()).expect("open");
        for batch in samples.chunks(50) {
            let done = db.append_labelled(batch, false).expect("append");
            assert_eq!(done.stored, batch.len());
        }
        assert!(db.stats.chunks_written.load(Ordering::Relaxed) >= 16);
    }
    let db = Db::open(dir.path()).expect("reopen");
    let a = eq(NAME, "a");
    let got = all(&db, &[&a], 0, i64::MAX);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, labels("a", "x"));
    let want: Vec<(i64, f64)> = (0..1000).map(|i| (i * 15_000, i as f64)).collect();
    assert_eq!(got[0].1, want);
    // a window in the middle, across chunk edges
    let got = all(&db, &[&a], 1_799_000, 3_615_000);
    assert_eq!(got[0].1.first(), Some(&(1_800_000, 120.0)));
    assert_eq!(got[0].1.last(), Some(&(3_615_000, 241.0)));
    // order is kept across the reopen
    let refs = db.refs(&[labels("a", "x")]).expect("refs");
    let done = db.append(&[(refs[0], 10, 1.0)], false).expect("append");
    assert_eq!(done.out_of_order, 1);
}

#[test]
fn matchers_select_as_prometheus_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let with_env = Labels::from_pairs([(NAME, "m"), ("job", "x"), ("env", "prod")]);
    db.append_labelled(
        &[
            (labels("m", "x"), 1, 1.0),
            (labels("m", "y"), 1, 2.0),
            (with_env, 1, 3.0),
        ],
        false,
    )
    .expect("append");
    let count = |ms: &[&Matcher]| all(&db, ms, 0, 10).len();
    let name = eq(NAME, "m");
    assert_eq!(count(&[&name]), 3);
    // env="" matches series without env
    assert_eq!(count(&[&name, &eq("env", "")]), 2);
    let not_prod = Matcher::new(MatchOp::NotEqual, "env", "prod");
    assert_eq!(count(&[&name, &not_prod]), 2);
    let re = Matcher::new_matcher(
        promql_parser::parser::token::T_EQL_REGEX,
        "job".into(),
        "x|z".into(),
    )
    .expect("regex");
    assert_eq!(count(&[&name, &re]), 2);
    let name_re = Matcher::new_matcher(
        promql_parser::parser::token::T_EQL_REGEX,
        NAME.into(),
        "m.*".into(),
    )
    .expect("regex");
    assert_eq!(count(&[&name_re]), 3);
    assert_eq!(count(&[&eq(NAME, "nothing")]), 0);
    assert_eq!(db.label_values("job"), ["x", "y"]);
    assert_eq!(db.label_names(), [NAME, "env", "job"]);
}

#[test]
fn duplicates_and_stale_markers_are_told_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let l = labels("m", "x");
    db.append_labelled(&[(l.clone(), 1000, 1.0)], false)
        .expect("append");
    let again = db
        .append_labelled(&[(l.clone(), 1000, 1.0)], false)
        .expect("append");
    assert_eq!(again, Appended::default());
    let other = db
        .append_labelled(&[(l.clone(), 1000, 2.0)], false)
        .expect("append");
    assert_eq!(other.duplicate, 1);
    db.append_labelled(&[(l, 2000, f64::from_bits(STALE_NAN))], true)
        .expect("append");
    let got = all(&db, &[&eq(NAME, "m")], 0, 5000);
    assert!(is_stale(got[0].1[1].1));
}

#[test]
fn retention_drops_old_days_and_silent_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let old = labels("old", "x");
    let live = labels("live", "x");
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.push((old.clone(), i * 60_000, 1.0));
    }
    for i in 0..(3 * 24 * 60) {
        batch.push((live.clone(), i * 60_000, 2.0));
    }
    db.append_labelled(&batch, false).expect("append");
    let cutoff = 2 * DAY_MS;
    assert_eq!(db.enforce_retention(cutoff).expect("retention"), 1);
    assert!(all(&db, &[&eq(NAME, "old")], 0, i64::MAX).is_empty());
    let got = all(&db, &[&eq(NAME, "live")], 0, i64::MAX);
    assert_eq!(got[0].1.first().map(|s| s.0), Some(cutoff));
    drop(db);
    let db = Db::open(dir.path()).expect("reopen");
    assert_eq!(db.series_count(), 1);
}

#[test]
fn a_query_over_its_budget_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open");
    let batch: Vec<_> = (0..100).map(|i| (labels("m", "x"), i, 1.0)).collect();
    db.append_labelled(&batch, false).expect("append");
    let mut budget = 50;
    let refused = db.select(&[&eq(NAME, "m")], 0, 1000, &mut budget, 50);
    assert!(matches!(
        refused,
        Err(DbError::TooManySamples { limit: 50 })
    ));
}

#[test]
fn records_go_once_chunked_and_a_silent_series_does_not_keep_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (labels("a", "x"), labels("b", "x"));
    {
        let db = Db::open(dir.path()).expect("open");
        // b stops after ten samples; a goes on for three hours
        for i in 0..720i64 {
            let mut batch = vec![(a.clone(), i * 15_000, i as f64)];
            if i < 10 {
                batch.push((b.clone(), i * 15_000, 0.5));
            }
            db.append_labelled(&batch, false).expect("append");
        }
        let index = db.index.read().expect("index");
        let records = index.wal.records.len();
        // a's head holds at most 120 samples, one record each; b's went
        // into a chunk an hour after its last sample
        assert!(records <= 125, "{records} records kept");
        let b_id = index.by_labels[&b] as usize;
        assert!(index.series[b_id].as_ref().expect("b").head.is_empty());
    }
    let db = Db::open(dir.path()).expect("reopen");
    let got = all(&db, &[], 0, i64::MAX);
    let count = |l: &Labels| got.iter().find(|(x, _)| x == l).map(|(_, s)| s.len());
    assert_eq!(count(&a), Some(720));
    assert_eq!(count(&b), Some(10));
    assert!(db.index.read().expect("index").wal.records.len() <= 125);
}
