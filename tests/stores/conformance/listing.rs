//! Listing: filters, inclusive and exclusive time bounds, order with ties, paging and totals.

use chrono::{DateTime, Utc};
use serde_json::json;
use sessions::controller::{MAX_TAKE, Paging};
use sessions::error::{InputField, SessionError};
use sessions::model::{Session, SessionFilter, SessionId};

use super::{Fixture, all, counted, ids_of, in_listing_order, ms, of_user, start, take};
use crate::support::Backend;

fn between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> SessionFilter {
    SessionFilter {
        from_time: from,
        to_time: to,
        ..SessionFilter::default()
    }
}

/// Sessions of alice and bob, last active 1 ms apart: alice's at +0 and +2, bob's closed
/// one at +1.
async fn three_sessions(f: &Fixture) -> [Session; 3] {
    let a1 = f.open("alice").await;
    f.advance(ms(1));
    let b1 = f.open("bob").await;
    let b1 = f.controller.close(&b1.id).await.expect("closes");
    f.advance(ms(1));
    let a2 = f.open("alice").await;
    [a1, b1, a2]
}

pub async fn listings_filter_by_id_user_and_active(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let [a1, b1, a2] = three_sessions(&f).await;
    let by_id = SessionFilter {
        id: Some(a1.id),
        ..all()
    };
    let active = |flag| SessionFilter {
        active: Some(flag),
        ..all()
    };

    assert_eq!(f.ids(&by_id).await, vec![a1.id]);
    assert_eq!(f.ids(&of_user("alice")).await, vec![a2.id, a1.id]);
    assert_eq!(f.ids(&of_user("bob")).await, vec![b1.id]);
    assert_eq!(f.ids(&of_user("carol")).await, Vec::<SessionId>::new());
    assert_eq!(f.ids(&active(true)).await, vec![a2.id, a1.id]);
    assert_eq!(f.ids(&active(false)).await, vec![b1.id]);
    // The listing carries whole sessions, identical to what `get` returns.
    let listed = f.list(&all(), Paging::default()).await.data;
    assert_eq!(
        listed,
        vec![
            f.session(a2.id).await,
            f.session(b1.id).await,
            f.session(a1.id).await
        ]
    );
}

pub async fn from_time_is_inclusive_and_to_time_exclusive(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let at = |n| Some(start() + ms(n));
    let s0 = f.open("alice").await;
    f.advance(ms(1));
    let s1 = f.open("alice").await;
    f.advance(ms(1));
    let s2 = f.open("alice").await;

    assert_eq!(f.ids(&between(at(1), None)).await, vec![s2.id, s1.id]);
    assert_eq!(f.ids(&between(None, at(1))).await, vec![s0.id]);
    assert_eq!(f.ids(&between(at(1), at(2))).await, vec![s1.id]);
    assert_eq!(
        f.ids(&between(at(0), at(3))).await,
        vec![s2.id, s1.id, s0.id]
    );
    assert_eq!(f.ids(&between(at(3), None)).await, Vec::<SessionId>::new());
    assert_eq!(f.ids(&between(None, at(0))).await, Vec::<SessionId>::new());
}

pub async fn filter_conditions_are_all_required_together(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let [a1, b1, a2] = three_sessions(&f).await;
    let filter = |user: &str, active, from| SessionFilter {
        user_id: Some(user.into()),
        active: Some(active),
        from_time: Some(start() + ms(from)),
        to_time: Some(start() + ms(3)),
        ..all()
    };
    let by_id_of_other_user = SessionFilter {
        id: Some(a1.id),
        user_id: Some("bob".into()),
        ..all()
    };

    assert_eq!(f.ids(&filter("alice", true, 0)).await, vec![a2.id, a1.id]);
    assert_eq!(f.ids(&filter("alice", true, 1)).await, vec![a2.id]);
    assert_eq!(f.ids(&filter("alice", false, 0)).await, vec![]);
    assert_eq!(f.ids(&filter("bob", false, 0)).await, vec![b1.id]);
    assert_eq!(f.ids(&filter("bob", true, 0)).await, vec![]);
    assert_eq!(f.ids(&by_id_of_other_user).await, vec![]);
}

pub async fn a_from_time_not_before_the_to_time_matches_nothing(backend: &Backend) {
    let f = Fixture::new(backend).await;
    three_sessions(&f).await;
    let at = |n| Some(start() + ms(n));

    assert_eq!(f.ids(&between(at(1), at(1))).await, vec![]);
    assert_eq!(f.ids(&between(at(2), at(0))).await, vec![]);
    let page = f.list(&between(at(2), at(1)), counted(0, 10)).await;
    assert_eq!((page.total, page.data.len()), (Some(0), 0));
}

pub async fn time_bounds_at_the_ends_of_the_calendar_still_answer(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let [a1, b1, a2] = three_sessions(&f).await;
    let (first, last) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);

    let everything = f.ids(&between(Some(first), Some(last))).await;
    let nothing_after = f.ids(&between(Some(last), None)).await;
    let nothing_before = f.ids(&between(None, Some(first))).await;

    assert_eq!(everything, vec![a2.id, b1.id, a1.id]);
    assert_eq!(nothing_after, vec![]);
    assert_eq!(nothing_before, vec![]);
}

pub async fn listings_order_by_request_time_descending_then_id_ascending(backend: &Backend) {
    let f = Fixture::new(backend).await;
    // Five times with four sessions each: every time is a tie broken by id.
    let mut opened = Vec::new();
    for _ in 0..5 {
        for _ in 0..4 {
            opened.push(f.open("alice").await);
        }
        f.advance(ms(1));
    }
    // Activity re-orders: the oldest session becomes the newest.
    let touched = f
        .controller
        .store_data(&opened[0].id, Some(json!("touched")))
        .await
        .expect("stores");
    opened[0] = touched;

    let expected = in_listing_order(&opened);
    assert_eq!(f.ids(&all()).await, expected);
    assert_eq!(f.ids(&of_user("alice")).await, expected);
    assert_eq!(expected[0], opened[0].id);
}

pub async fn listings_of_open_sessions_keep_the_order_and_leave_out_closed_ones(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let mut opened = Vec::new();
    for i in 0..12 {
        opened.push(f.open(if i % 2 == 0 { "alice" } else { "bob" }).await);
        if i % 4 == 0 {
            f.advance(ms(1));
        }
    }
    for closed in [1, 4, 7] {
        f.controller
            .close(&opened[closed].id)
            .await
            .expect("closes");
    }
    let open: Vec<Session> = [0, 2, 3, 5, 6, 8, 9, 10, 11]
        .into_iter()
        .map(|i| opened[i].clone())
        .collect();
    let only_open = SessionFilter {
        active: Some(true),
        ..SessionFilter::default()
    };

    let page = f.list(&only_open, counted(2, 5)).await;

    let expected = in_listing_order(&open);
    assert_eq!(f.ids(&only_open).await, expected);
    assert_eq!(page.total, Some(9));
    assert_eq!(ids_of(&page.data), expected[2..7].to_vec());
}

pub async fn pages_cover_the_listing_without_overlap_or_gap(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let mut opened = Vec::new();
    for i in 0..23 {
        opened.push(f.open("alice").await);
        if i % 3 == 0 {
            f.advance(ms(1));
        }
    }
    let expected = in_listing_order(&opened);

    let mut paged = Vec::new();
    for skip in (0..30).step_by(5) {
        let page = f.list(&of_user("alice"), counted(skip, 5)).await;
        assert_eq!(page.total, Some(23));
        paged.extend(ids_of(&page.data));
    }

    assert_eq!(paged, expected);
    let window = f.list(&all(), counted(7, 4)).await;
    assert_eq!(ids_of(&window.data), expected[7..11].to_vec());
}

pub async fn paging_defaults_to_the_first_100_matches_without_a_total(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let mut opened = Vec::new();
    for _ in 0..105 {
        opened.push(f.open("alice").await);
    }

    let page = f.list(&all(), Paging::default()).await;

    assert_eq!(page.total, None);
    assert_eq!(
        ids_of(&page.data),
        in_listing_order(&opened)[..100].to_vec()
    );
}

pub async fn take_above_1000_is_clamped_to_1000(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let count = MAX_TAKE + 1;
    let mut opened = Vec::new();
    for i in 0..count {
        opened.push(f.open(&format!("u{}", i % 3)).await);
    }

    let page = f.list(&all(), counted(0, 5000)).await;
    let huge = f.list(&all(), counted(0, i64::MAX)).await;

    assert_eq!(page.data.len(), MAX_TAKE);
    assert_eq!(page.total, Some(count as u64));
    assert_eq!(
        ids_of(&page.data),
        in_listing_order(&opened)[..MAX_TAKE].to_vec()
    );
    assert_eq!(huge.data.len(), MAX_TAKE);
}

pub async fn the_total_counts_every_match_only_when_asked(backend: &Backend) {
    let f = Fixture::new(backend).await;
    three_sessions(&f).await;
    f.open("bob").await;

    let uncounted = f.list(&all(), take(1)).await;
    let counted_page = f.list(&all(), counted(1, 2)).await;
    let beyond = f.list(&of_user("alice"), counted(10, 5)).await;
    let none_taken = f.list(&of_user("bob"), counted(0, 0)).await;
    let huge_skip = f.list(&all(), counted(i64::MAX, 5)).await;

    assert_eq!((uncounted.total, uncounted.data.len()), (None, 1));
    assert_eq!((counted_page.total, counted_page.data.len()), (Some(4), 2));
    assert_eq!((beyond.total, beyond.data.len()), (Some(2), 0));
    assert_eq!((none_taken.total, none_taken.data.len()), (Some(2), 0));
    assert_eq!((huge_skip.total, huge_skip.data.len()), (Some(4), 0));
}

pub async fn negative_skip_or_take_is_rejected(backend: &Backend) {
    let f = Fixture::new(backend).await;
    f.open("alice").await;
    let paging = |skip, take| Paging {
        skip,
        take,
        total: true,
    };

    let cases = [
        (paging(Some(-1), None), InputField::Skip),
        (paging(None, Some(-1)), InputField::Take),
    ];
    for (paging, expected) in cases {
        match f.controller.list(&all(), paging).await {
            Err(SessionError::InvalidInput { field, .. }) => assert_eq!(field, expected),
            other => panic!("expected invalid {expected}, got {other:?}"),
        }
    }
}

pub async fn activity_moves_a_session_to_the_front_of_listings(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let [a1, _, a2] = three_sessions(&f).await;
    f.advance(ms(1));

    f.controller
        .update_user(&a1.id, Some(json!({"name": "A"})))
        .await
        .expect("updates");

    assert_eq!(f.ids(&of_user("alice")).await, vec![a1.id, a2.id]);
    let recent = between(Some(start() + ms(3)), None);
    assert_eq!(f.ids(&recent).await, vec![a1.id]);
    let earlier = between(None, Some(start() + ms(1)));
    assert_eq!(f.ids(&earlier).await, vec![]);
}
