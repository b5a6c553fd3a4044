use super::*;

const DAY: i64 = 86_400_000;

/// Noon, local time, `days` days before a fixed Wednesday.
fn noon(days: i64) -> i64 {
    let base = Local
        .with_ymd_and_hms(2026, 11, 18, 12, 0, 0)
        .single()
        .unwrap()
        .timestamp_millis();
    base - days * DAY
}

/// One path's history: contents ending at the given days ago (the last is current).
fn history(ends: &[Option<i64>]) -> Vec<HistoryRow> {
    ends.iter()
        .enumerate()
        .map(|(i, end)| HistoryRow {
            library: "lib".into(),
            path: RelPath::new(b"IMG_0001.CR2".to_vec()).unwrap(),
            photo_id: i as i64,
            since: 0,
            until: end.map(noon),
        })
        .collect()
}

fn kept(ends: &[Option<i64>], policy: RetentionPolicy) -> Vec<usize> {
    let rows = history(ends);
    let mut k: Vec<usize> = kept_rows(&rows, &policy, noon(0) + 1).into_iter().collect();
    k.sort();
    k
}

#[test]
fn the_policy_keeps_exactly_what_it_says() {
    let daily = |n| RetentionPolicy {
        keep_daily: n,
        ..Default::default()
    };
    let weekly = |n| RetentionPolicy {
        keep_weekly: n,
        ..Default::default()
    };
    let monthly = |n| RetentionPolicy {
        keep_monthly: n,
        ..Default::default()
    };
    let within = |days: u64| RetentionPolicy {
        keep_within: Some(Duration::from_secs(days * 86_400)),
        ..Default::default()
    };
    // (ends of each version in days ago, None = current; policy; kept indices)
    let cases: Vec<(Vec<Option<i64>>, RetentionPolicy, Vec<usize>)> = vec![
        // The current content is always kept, and fills today.
        (vec![Some(0), Some(0), None], daily(1), vec![2]),
        // One version per earlier day, newest days first.
        (
            vec![Some(4), Some(3), Some(2), Some(1), None],
            daily(3),
            vec![2, 3, 4],
        ),
        (
            vec![Some(3), Some(2), Some(1), None],
            daily(10),
            vec![0, 1, 2, 3],
        ),
        // A deleted photo: its last stretch is its own day.
        (vec![Some(5)], daily(1), vec![0]),
        (vec![Some(9), Some(5)], daily(1), vec![1]),
        // Weeks: the 18th is a Wednesday; 7 and 14 days ago are the two weeks before.
        (
            vec![Some(15), Some(14), Some(8), Some(7), None],
            weekly(3),
            vec![1, 3, 4],
        ),
        // Months: November 18 back to October and September.
        (
            vec![Some(60), Some(40), Some(35), None],
            monthly(2),
            vec![2, 3],
        ),
        (
            vec![Some(60), Some(40), Some(35), None],
            monthly(3),
            vec![0, 2, 3],
        ),
        // Within: every version that was current in the window, however many.
        (
            vec![Some(9), Some(2), Some(1), Some(1), None],
            within(3),
            vec![1, 2, 3, 4],
        ),
        // Policies add up.
        (
            vec![Some(40), Some(9), Some(2), Some(1), None],
            RetentionPolicy {
                keep_daily: 2,
                keep_monthly: 2,
                ..Default::default()
            },
            vec![0, 3, 4],
        ),
    ];
    for (ends, policy, want) in cases {
        assert_eq!(kept(&ends, policy), want, "{ends:?} with {policy:?}");
    }
}

#[test]
fn paths_are_judged_apart_and_current_rows_always_stay() {
    let mut rows = history(&[Some(3), None]);
    rows.extend(history(&[Some(2), Some(1)]).into_iter().map(|mut r| {
        r.path = RelPath::new(b"IMG_0002.CR2".to_vec()).unwrap();
        r.photo_id += 10;
        r
    }));
    let policy = RetentionPolicy {
        keep_daily: 1,
        ..Default::default()
    };
    let mut k: Vec<usize> = kept_rows(&rows, &policy, noon(0)).into_iter().collect();
    k.sort();
    // IMG_0001: current only (today). IMG_0002 (deleted): its last version.
    assert_eq!(k, vec![1, 3]);
}
