use super::super::fresh::now_ms;
use super::*;
use crate::feed::wire::WireRoute;
use proptest::prelude::*;

fn base() -> BaseDomain {
    BaseDomain::try_from("example.net").expect("valid")
}

fn id(n: u128) -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(n))
}

fn wire(n: u128, version: i64, host: Option<&str>, old: &[&str], shard: &str) -> WireRoute {
    WireRoute {
        tenant_id: uuid::Uuid::from_u128(n),
        version,
        epoch: version,
        state: Some(if host.is_some() { "ACTIVE" } else { "DELETED" }.into()),
        host: host.map(|h| format!("{h}.example.net")),
        old_hosts: old.iter().map(|h| format!("{h}.example.net")).collect(),
        region: Some("eu-west-1".into()),
        shard: Some(shard.into()),
        route_status: Some("ONLINE".into()),
        changed_at: None,
    }
}

fn entry(w: &WireRoute) -> Entry {
    Entry::parse(w, &base()).expect("valid entry")
}

fn fresh_replica() -> Replica {
    let r = Replica::empty(Duration::from_secs(60));
    r.set_base_domain(base()).expect("first");
    r.set_shards(vec![
        (
            ShardId::try_from("eu-west-1-1").expect("id"),
            Endpoint::try_from("https://one.example.net").expect("endpoint"),
        ),
        (
            ShardId::try_from("eu-west-1-2").expect("id"),
            Endpoint::try_from("https://two.example.net").expect("endpoint"),
        ),
    ]);
    r.set_loaded();
    r.advance_watermark(now_ms());
    r
}

fn shard_of(r: &Replica, n: u128) -> Option<String> {
    r.route(id(n))
        .expect("ready")
        .map(|route| route.to.placement.shard.as_str().to_owned())
}

#[test]
fn nothing_is_answered_before_the_snapshot_is_loaded_or_after_the_bound() {
    let r = Replica::empty(Duration::from_millis(500));
    assert_eq!(r.route(id(1)), Err(NotReady::Loading));
    r.set_loaded();
    r.advance_watermark(now_ms() - 2_000);
    assert!(matches!(
        r.route(id(1)),
        Err(NotReady::Stale { bound_ms: 500, .. })
    ));
    // Each refused lookup is counted once; asking whether it would answer is not a lookup.
    assert!(r.freshness().is_err());
    assert_eq!(r.stats().refused, 2);
    r.advance_watermark(now_ms());
    assert_eq!(r.route(id(1)), Ok(None));
    // A watermark never goes back.
    r.advance_watermark(now_ms() - 10_000);
    assert!(r.ready().is_ok());
    assert_eq!(r.stats().refused, 2);
}

fn site(s: &str) -> Site {
    Site::try_from(s).expect("site")
}

#[test]
fn past_the_bound_only_the_tenants_and_hosts_a_heartbeat_named_as_waiting_are_refused() {
    let r = Replica::empty(Duration::from_millis(500));
    r.set_base_domain(base()).expect("first");
    r.set_shards(vec![(
        ShardId::try_from("eu-west-1-1").expect("id"),
        Endpoint::try_from("https://one.example.net").expect("endpoint"),
    )]);
    r.set_loaded();
    r.apply(entry(&wire(1, 1, Some("acme"), &[], "eu-west-1-1")), 1);
    r.apply(entry(&wire(2, 1, Some("globex"), &[], "eu-west-1-1")), 1);
    // The oldest waiting change (of tenant 1, renaming it to `acme-new`) is 2 s old; the
    // heartbeat that says so was read just now.
    r.advance_watermark(now_ms() - 2_000);
    r.advance_but_waiting(now_ms(), &[id(1)], &[site("acme-new")]);
    assert!(r.freshness().is_ok(), "ready: it answers all but tenant 1");
    assert_eq!(r.waiting(), 1);
    assert!(r.staleness().expect("known") >= Duration::from_millis(2_000));
    assert!(r.staleness_but_waiting().expect("known") < Duration::from_millis(500));
    assert!(matches!(r.route(id(2)), Ok(Some(_))));
    assert!(matches!(r.route_by_host("globex.example.net"), Ok(Some(_))));
    assert_eq!(r.route(id(404)), Ok(None));
    for refused in [
        r.route(id(1)),
        r.route_by_host("acme.example.net"),
        r.route_by_host("acme-new.example.net"),
    ] {
        assert!(
            matches!(refused, Err(NotReady::Waiting { bound_ms: 500, .. })),
            "{refused:?}"
        );
    }
    assert!(
        r.routes(&[id(2), id(1)]).is_err(),
        "a list with one waiting"
    );
    assert!(matches!(
        r.tenant_of_site(&site("acme-new")),
        Err(NotReady::Waiting { .. })
    ));
    assert_eq!(r.stats().refused, 5);

    // A heartbeat read earlier than the one taken (another relay's, late) changes nothing.
    r.advance_but_waiting(now_ms() - 100, &[id(2)], &[]);
    assert!(matches!(r.route(id(2)), Ok(Some(_))));
    assert!(r.route(id(1)).is_err());
    // The next one no longer names tenant 1: its change arrived before that heartbeat.
    r.advance_but_waiting(now_ms() + 1, &[], &[]);
    assert_eq!(r.waiting(), 0);
    assert!(matches!(r.route(id(1)), Ok(Some(_))));
    assert!(matches!(r.route_by_host("acme-new.example.net"), Ok(None)));
}

#[test]
fn past_the_bound_for_every_tenant_nothing_is_answered_whatever_was_named() {
    let r = Replica::empty(Duration::from_millis(500));
    r.set_base_domain(base()).expect("first");
    r.set_loaded();
    r.advance_watermark(now_ms() - 3_000);
    r.advance_but_waiting(now_ms() - 1_000, &[id(1)], &[]);
    assert!(matches!(r.route(id(2)), Err(NotReady::Stale { .. })));
    assert!(matches!(r.freshness(), Err(NotReady::Stale { .. })));
    // Within the bound for everyone, nothing waits, whatever a heartbeat named.
    r.advance_watermark(now_ms());
    assert_eq!(r.route(id(1)), Ok(None));
}

#[test]
fn an_older_or_repeated_version_changes_nothing() {
    let r = fresh_replica();
    assert_eq!(
        r.apply(entry(&wire(1, 2, Some("acme"), &[], "eu-west-1-2")), 1),
        Applied::Newer { skipped: false }
    );
    assert_eq!(
        r.apply(entry(&wire(1, 1, Some("acme"), &[], "eu-west-1-1")), 1),
        Applied::Older
    );
    assert_eq!(
        r.apply(entry(&wire(1, 2, Some("acme"), &[], "eu-west-1-1")), 1),
        Applied::Older
    );
    assert_eq!(shard_of(&r, 1).as_deref(), Some("eu-west-1-2"));
    assert_eq!(
        r.apply(entry(&wire(1, 5, Some("acme"), &[], "eu-west-1-1")), 1),
        Applied::Newer { skipped: true }
    );
    assert_eq!(shard_of(&r, 1).as_deref(), Some("eu-west-1-1"));
}

#[test]
fn renames_keep_old_hosts_and_deletion_forgets_every_host() {
    let r = fresh_replica();
    r.apply(entry(&wire(1, 1, Some("acme"), &[], "eu-west-1-1")), 1);
    r.apply(
        entry(&wire(1, 2, Some("acme-new"), &["acme"], "eu-west-1-1")),
        1,
    );
    for host in [
        "acme.example.net",
        "ACME-new.example.net.",
        "acme-new.example.net",
    ] {
        let route = r.route_by_host(host).expect("ready").expect("found");
        assert_eq!(route.to.tenant_id, id(1), "{host}");
        assert_eq!(route.to.host, "acme-new.example.net");
    }
    assert_eq!(r.route_by_host("acme.other.net"), Ok(None));
    r.apply(entry(&wire(1, 3, None, &[], "eu-west-1-1")), 1);
    assert_eq!(r.route(id(1)), Ok(None));
    assert_eq!(r.route_by_host("acme.example.net"), Ok(None));
    assert_eq!(r.route_by_host("acme-new.example.net"), Ok(None));
    // The deleted tenant is remembered: a late message of an earlier version is dropped.
    assert_eq!(
        r.apply(
            entry(&wire(1, 2, Some("acme-new"), &["acme"], "eu-west-1-1")),
            1
        ),
        Applied::Older
    );
    assert_eq!(r.route_by_host("acme.example.net"), Ok(None));
}

#[test]
fn a_site_passed_on_answers_for_its_new_holder() {
    let r = fresh_replica();
    r.apply(entry(&wire(1, 1, Some("shared"), &[], "eu-west-1-1")), 1);
    // Tenant 1 is deleted and tenant 2 takes the site, the messages in either order.
    r.apply(entry(&wire(2, 1, Some("shared"), &[], "eu-west-1-2")), 1);
    r.apply(entry(&wire(1, 2, None, &[], "eu-west-1-1")), 1);
    let route = r
        .route_by_host("shared.example.net")
        .expect("ready")
        .expect("found");
    assert_eq!(route.to.tenant_id, id(2));
}

#[test]
fn a_new_endpoint_reaches_every_route_of_its_shard() {
    let r = fresh_replica();
    r.apply(entry(&wire(1, 1, Some("acme"), &[], "eu-west-1-1")), 1);
    r.apply(entry(&wire(2, 1, Some("beta"), &[], "eu-west-1-2")), 1);
    r.set_shards(vec![
        (
            ShardId::try_from("eu-west-1-1").expect("id"),
            Endpoint::try_from("https://moved.example.net").expect("endpoint"),
        ),
        (
            ShardId::try_from("eu-west-1-2").expect("id"),
            Endpoint::try_from("https://two.example.net").expect("endpoint"),
        ),
    ]);
    let one = r.route(id(1)).expect("ready").expect("found");
    assert_eq!(one.endpoint.as_str(), "https://moved.example.net");
    let two = r.route(id(2)).expect("ready").expect("found");
    assert_eq!(two.endpoint.as_str(), "https://two.example.net");
    // A route to a shard the replica does not know waits for the shard list.
    r.apply(entry(&wire(3, 1, Some("gamma"), &[], "eu-west-1-9")), 1);
    assert_eq!(r.route(id(3)), Ok(None));
    assert!(!r.knows_shard(&ShardId::try_from("eu-west-1-9").expect("id")));
}

#[test]
fn a_sweep_forgets_tenants_the_last_snapshot_did_not_name() {
    let r = fresh_replica();
    r.apply(entry(&wire(1, 1, Some("acme"), &[], "eu-west-1-1")), 1);
    r.apply(entry(&wire(2, 1, Some("beta"), &[], "eu-west-1-1")), 1);
    // Snapshot 2 names tenant 2 only, at the version held.
    assert_eq!(
        r.apply(entry(&wire(2, 1, Some("beta"), &[], "eu-west-1-1")), 2),
        Applied::Newer { skipped: false }
    );
    assert_eq!(r.sweep(2), 1);
    assert_eq!(r.route(id(1)), Ok(None));
    assert_eq!(r.route_by_host("acme.example.net"), Ok(None));
    assert!(r.route(id(2)).expect("ready").is_some());
}

#[test]
fn a_bad_entry_names_its_field() {
    let mut w = wire(1, 1, Some("acme"), &[], "eu-west-1-1");
    w.host = Some("acme.other.org".into());
    assert!(
        Entry::parse(&w, &base())
            .expect_err("bad")
            .contains("acme.other.org")
    );
    let mut w = wire(1, 1, Some("acme"), &[], "eu-west-1-1");
    w.state = Some("HAPPY".into());
    assert!(
        Entry::parse(&w, &base())
            .expect_err("bad")
            .contains("HAPPY")
    );
}

proptest! {
    /// Every version of a few tenants, duplicated and shuffled, ends as the last version of
    /// each: what a replica answers does not depend on the order messages arrive in.
    #[test]
    fn duplicates_and_shuffles_end_at_the_last_version(
        order in Just((0..40usize).flat_map(|n| [n, n]).collect::<Vec<_>>()).prop_shuffle()
    ) {
        let versions: Vec<WireRoute> = (0..40)
            .map(|n| {
                let tenant = (n % 4) as u128;
                let version = (n / 4 + 1) as i64;
                let site = format!("t{tenant}-v{version}");
                let old = format!("t{tenant}-v{}", version.max(2) - 1);
                let old = if version > 1 { vec![old] } else { vec![] };
                let old: Vec<&str> = old.iter().map(String::as_str).collect();
                let shard = if version % 2 == 0 { "eu-west-1-1" } else { "eu-west-1-2" };
                wire(tenant, version, Some(&site), &old, shard)
            })
            .collect();
        let r = fresh_replica();
        for n in order {
            r.apply(entry(&versions[n]), 1);
        }
        for tenant in 0..4u128 {
            let route = r.route(id(tenant)).expect("ready").expect("found");
            prop_assert_eq!(&route.to.host, &format!("t{tenant}-v10.example.net"));
            prop_assert_eq!(route.to.placement.shard.as_str(), "eu-west-1-1");
            let by_old = r.route_by_host(&format!("t{tenant}-v9.example.net")).expect("ready");
            prop_assert_eq!(by_old.map(|r| r.to.tenant_id), Some(id(tenant)));
        }
    }
}
