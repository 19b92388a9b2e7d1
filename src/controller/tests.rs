//! Specifications of the controller, as scenarios and as properties over random histories.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::broker::{
    AlterPartitionRequest, ErrorCode, Partition, ReplicationConfig, TopicPartition, Transition,
};

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("orders", p)
}

/// A controller with `n` live brokers (epochs returned) and topic `orders`.
fn cluster(n: i32, partitions: i32, rf: i32, config: ControllerConfig) -> (Controller, Vec<i64>) {
    let mut c = Controller::new(config);
    let mut epochs = Vec::new();
    for b in 0..n {
        let (e, _) = c.register_broker(b, None, 0).unwrap();
        c.heartbeat(b, e, 0).unwrap();
        epochs.push(e);
    }
    let mut rng = StdRng::seed_from_u64(42);
    c.create_topic("orders", partitions, rf, &mut rng).unwrap();
    (c, epochs)
}

fn part(c: &Controller, p: i32) -> PartitionRegistration {
    c.metadata().partition(&tp(p)).unwrap().clone()
}

/// Keeps brokers in `alive` heartbeating up to `until`, every second.
fn run_heartbeats(c: &mut Controller, epochs: &[i64], alive: &[i32], from: i64, until: i64) {
    let mut t = from;
    while t <= until {
        for &b in alive {
            c.heartbeat(b, epochs[b as usize], t).unwrap();
        }
        c.tick(t);
        t += 1_000;
    }
}

/// The leader's AlterPartition of partition 0 in leader epoch 0 (it panics if refused).
fn alter_isr(c: &mut Controller, epochs: &[i64], leader: i32, partition_epoch: i32, isr: Vec<i32>) {
    c.alter_partition(
        epochs[leader as usize],
        &AlterPartitionRequest {
            topic_partition: tp(0),
            leader_id: leader,
            leader_epoch: 0,
            partition_epoch,
            new_isr: isr,
            new_isr_broker_epochs: Vec::new(),
        },
    )
    .unwrap();
}

#[test]
fn new_topic_is_led_by_its_first_replica_with_full_isr() {
    let (c, _) = cluster(3, 6, 3, ControllerConfig::default());
    let mut leaders = BTreeMap::new();
    for p in 0..6 {
        let r = part(&c, p);
        assert_eq!(r.leader, r.replicas[0]);
        assert_eq!(r.isr, r.replicas);
        assert_eq!((r.leader_epoch, r.partition_epoch), (0, 0));
        *leaders.entry(r.leader).or_insert(0) += 1;
    }
    assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
    c.check_invariants().unwrap();
}

#[test]
fn same_seed_same_assignment() {
    let (a, _) = cluster(5, 8, 3, ControllerConfig::default());
    let (b, _) = cluster(5, 8, 3, ControllerConfig::default());
    assert_eq!(a.metadata(), b.metadata());
}

#[test]
fn session_expires_strictly_after_the_timeout() {
    let (mut c, _) = cluster(3, 1, 3, ControllerConfig::default());
    assert!(
        c.tick(9_000).is_empty(),
        "exactly 9s since the heartbeat: still alive"
    );
    let records = c.tick(9_001);
    assert!(records.contains(&MetadataRecord::FenceBroker {
        broker_id: 0,
        broker_epoch: 0
    }));
    assert!(c.metadata().live_brokers().is_empty());
}

#[test]
fn failed_leader_is_replaced_by_the_next_isr_member_in_assignment_order() {
    let (mut c, epochs) = cluster(3, 1, 3, ControllerConfig::default());
    let before = part(&c, 0);
    let old_leader = before.leader;
    let alive: Vec<i32> = (0..3).filter(|&b| b != old_leader).collect();
    run_heartbeats(&mut c, &epochs, &alive, 1_000, 10_000);
    let after = part(&c, 0);
    assert_eq!(after.leader, before.replicas[1]);
    assert_eq!(after.leader_epoch, 1);
    assert!(after.partition_epoch > before.partition_epoch);
    assert!(
        !after.isr.contains(&old_leader),
        "failed broker leaves the ISR"
    );
    assert!(!after.unclean_leader);
    c.check_invariants().unwrap();
}

/// The ISR rules before KIP-966 (`eligible.leader.replicas.version` 0).
fn before_kip_966() -> ControllerConfig {
    ControllerConfig {
        eligible_leader_replicas: false,
        ..Default::default()
    }
}

#[test]
fn last_isr_member_is_kept_and_re_elected_when_it_returns() {
    let (mut c, mut epochs) = cluster(3, 1, 3, before_kip_966());
    // All brokers die.
    c.tick(20_000);
    let r = part(&c, 0);
    assert_eq!(r.leader, NO_LEADER);
    assert_eq!(r.isr.len(), 1, "the ISR never becomes empty");
    let last = r.isr[0];
    // A broker outside the ISR returns: with unclean election off it may not lead.
    let other = (0..3).find(|&b| b != last).unwrap();
    let (e, _) = c.register_broker(other, None, 21_000).unwrap();
    epochs[other as usize] = e;
    c.heartbeat(other, e, 21_000).unwrap();
    assert_eq!(part(&c, 0).leader, NO_LEADER);
    // The last ISR member returns and is elected cleanly.
    let (e, _) = c.register_broker(last, None, 22_000).unwrap();
    c.heartbeat(last, e, 22_000).unwrap();
    let r = part(&c, 0);
    assert_eq!(r.leader, last);
    assert!(!r.unclean_leader);
    c.check_invariants().unwrap();
}

/// KIP-966 with `min.insync.replicas` 1: the fenced last ISR member leaves the ISR for
/// the ELR; back from a clean shutdown it is elected from there, cleanly. Back from an
/// unclean one it has lost its eligibility, and is elected only as the last known leader
/// (unclean: it may have lost committed records), as Kafka before KIP-966 would have.
#[test]
fn the_fenced_last_isr_member_moves_to_the_elr_and_leads_again_if_it_shut_down_cleanly() {
    for clean in [true, false] {
        let (mut c, _) = cluster(3, 1, 3, ControllerConfig::default());
        c.tick(20_000);
        let r = part(&c, 0);
        assert_eq!(r.leader, NO_LEADER);
        assert!(r.isr.is_empty(), "{r:?}");
        let [last] = r.elr[..] else {
            panic!("one ELR member expected: {r:?}")
        };
        assert_eq!(r.last_known_elr, vec![last]);
        // Another replica returns: it is in neither the ISR nor the ELR.
        let other = (0..3).find(|&b| b != last).unwrap();
        let (e, _) = c.register_broker(other, None, 21_000).unwrap();
        c.heartbeat(other, e, 21_000).unwrap();
        assert_eq!(part(&c, 0).leader, NO_LEADER);
        let previous = clean.then(|| c.metadata().broker(last).unwrap().broker_epoch);
        let (e, _) = c
            .register_broker_at(last, None, None, previous, 22_000)
            .unwrap();
        c.heartbeat(last, e, 22_000).unwrap();
        let r = part(&c, 0);
        assert_eq!(r.leader, last, "clean {clean}");
        assert_eq!(r.isr, vec![last]);
        assert_eq!(r.unclean_leader, !clean, "clean {clean}");
        assert!(r.elr.is_empty() && r.last_known_elr.is_empty(), "{r:?}");
        c.check_invariants().unwrap();
    }
}

/// KIP-966's "last replica standing": ISR [0,1,2], `min.insync.replicas` 2. Two
/// followers drop out (the second into the ELR: the high watermark stops under two
/// in-sync replicas), then the leader crashes and loses unflushed records. Kafka before
/// KIP-966 elects it again when it returns (the ISR kept it) and the records are gone
/// everywhere; with the ELR it has lost its place and the follower that left last, which
/// holds everything committed, leads.
#[test]
fn a_leader_back_from_an_unclean_shutdown_does_not_lead_while_an_elr_member_can() {
    let config = ControllerConfig {
        min_insync_replicas: 2,
        ..Default::default()
    };
    let (mut c, epochs) = cluster(3, 1, 3, config);
    let leader = part(&c, 0).leader;
    let mut followers: Vec<i32> = (0..3).filter(|&b| b != leader).collect();
    followers.sort_by_key(|&b| part(&c, 0).replicas.iter().position(|&r| r == b));
    let (first, second) = (followers[0], followers[1]);
    // The leader shrinks the ISR twice.
    alter_isr(&mut c, &epochs, leader, 0, vec![leader, second]);
    alter_isr(&mut c, &epochs, leader, 1, vec![leader]);
    let r = part(&c, 0);
    assert_eq!((r.isr.clone(), r.elr.clone()), (vec![leader], vec![second]));
    // Everyone stops heartbeating; the leader restarts at once without a clean
    // shutdown, before the followers are back.
    c.tick(20_000);
    let (e, _) = c
        .register_broker_at(leader, None, None, None, 20_500)
        .unwrap();
    c.heartbeat(leader, e, 20_500).unwrap();
    let r = part(&c, 0);
    assert_eq!(
        r.leader, NO_LEADER,
        "the crashed leader may not lead: {r:?}"
    );
    assert!(
        !r.elr.contains(&leader) && !r.isr.contains(&leader),
        "{r:?}"
    );
    // The first follower to leave holds less than was committed: it may not lead either.
    let (e, _) = c.register_broker(first, None, 21_000).unwrap();
    c.heartbeat(first, e, 21_000).unwrap();
    assert_eq!(part(&c, 0).leader, NO_LEADER);
    // The ELR member returns and leads, cleanly.
    let (e, _) = c.register_broker(second, None, 22_000).unwrap();
    c.heartbeat(second, e, 22_000).unwrap();
    let r = part(&c, 0);
    assert_eq!(r.leader, second);
    assert_eq!(r.isr, vec![second]);
    assert!(!r.unclean_leader);
    c.check_invariants().unwrap();

    // Before KIP-966 the crashed leader stays the last ISR member and leads again.
    let config = ControllerConfig {
        min_insync_replicas: 2,
        ..before_kip_966()
    };
    let (mut c, epochs) = cluster(3, 1, 3, config);
    let leader = part(&c, 0).leader;
    alter_isr(&mut c, &epochs, leader, 0, vec![leader]);
    c.tick(20_000);
    let (e, _) = c
        .register_broker_at(leader, None, None, None, 20_500)
        .unwrap();
    c.heartbeat(leader, e, 20_500).unwrap();
    assert_eq!(part(&c, 0).leader, leader);
}

/// While the ISR holds `min.insync.replicas` there is no ELR; it goes when the ISR grows
/// back to that size.
#[test]
fn the_elr_is_kept_only_while_the_isr_is_under_min_insync_replicas() {
    let config = ControllerConfig {
        min_insync_replicas: 2,
        ..Default::default()
    };
    let (mut c, epochs) = cluster(3, 1, 3, config);
    let leader = part(&c, 0).leader;
    let others: Vec<i32> = (0..3).filter(|&b| b != leader).collect();
    alter_isr(&mut c, &epochs, leader, 0, vec![leader, others[0]]);
    assert!(part(&c, 0).elr.is_empty());
    alter_isr(&mut c, &epochs, leader, 1, vec![leader]);
    assert_eq!(part(&c, 0).elr, vec![others[0]]);
    alter_isr(&mut c, &epochs, leader, 2, vec![leader, others[1]]);
    assert!(part(&c, 0).elr.is_empty());
    c.check_invariants().unwrap();
}

#[test]
fn unclean_election_picks_a_live_out_of_sync_replica_and_records_it() {
    for (unclean, elr) in [(false, false), (true, false), (false, true), (true, true)] {
        let (mut c, epochs) = cluster(
            3,
            1,
            3,
            ControllerConfig {
                unclean_leader_election_enable: unclean,
                eligible_leader_replicas: elr,
                ..Default::default()
            },
        );
        let r = part(&c, 0);
        let leader = r.leader;
        // The leader shrinks the ISR to itself, then dies.
        let (_, _) = c
            .alter_partition(
                epochs[leader as usize],
                &AlterPartitionRequest {
                    topic_partition: tp(0),
                    leader_id: leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    new_isr: vec![leader],
                    new_isr_broker_epochs: Vec::new(),
                },
            )
            .unwrap();
        let alive: Vec<i32> = (0..3).filter(|&b| b != leader).collect();
        run_heartbeats(&mut c, &epochs, &alive, 1_000, 10_000);
        let r = part(&c, 0);
        if unclean {
            let expected = *r.replicas.iter().find(|b| alive.contains(b)).unwrap();
            assert_eq!(r.leader, expected);
            assert_eq!(r.isr, vec![expected]);
            assert!(r.unclean_leader, "data-loss risk is recorded");
        } else if elr {
            // KIP-966: the fenced last member leaves the ISR for the ELR.
            assert_eq!(r.leader, NO_LEADER);
            assert!(r.isr.is_empty());
            assert_eq!(r.elr, vec![leader]);
        } else {
            assert_eq!(r.leader, NO_LEADER);
            assert_eq!(r.isr, vec![leader]);
        }
        c.check_invariants().unwrap();
    }
}

/// A topic's own `unclean.leader.election.enable` wins over the broker's, either way.
#[test]
fn the_topic_level_unclean_setting_overrides_the_brokers() {
    for (broker, topic) in [(false, true), (true, false)] {
        let mut config = ControllerConfig {
            unclean_leader_election_enable: broker,
            ..Default::default()
        };
        config
            .topic_unclean_leader_election_enable
            .insert(tp(0).topic.to_string(), topic);
        let (mut c, epochs) = cluster(3, 1, 3, config);
        let leader = part(&c, 0).leader;
        c.alter_partition(
            epochs[leader as usize],
            &AlterPartitionRequest {
                topic_partition: tp(0),
                leader_id: leader,
                leader_epoch: 0,
                partition_epoch: 0,
                new_isr: vec![leader],
                new_isr_broker_epochs: Vec::new(),
            },
        )
        .unwrap();
        let alive: Vec<i32> = (0..3).filter(|&b| b != leader).collect();
        run_heartbeats(&mut c, &epochs, &alive, 1_000, 10_000);
        let r = part(&c, 0);
        assert_eq!(r.unclean_leader, topic, "broker {broker}, topic {topic}");
        assert_eq!(r.leader == NO_LEADER, !topic);
    }
}

#[test]
fn alter_partition_rejects_stale_proposals() {
    let (mut c, epochs) = cluster(3, 1, 3, ControllerConfig::default());
    let r = part(&c, 0);
    let l = r.leader;
    let follower = r.replicas[1];
    let req = |leader_epoch, partition_epoch, new_isr: Vec<i32>| AlterPartitionRequest {
        topic_partition: tp(0),
        leader_id: l,
        leader_epoch,
        partition_epoch,
        new_isr,
        new_isr_broker_epochs: Vec::new(),
    };
    let without_follower: Vec<i32> = r.isr.iter().copied().filter(|&b| b != follower).collect();
    let (state, recs) = c
        .alter_partition(epochs[l as usize], &req(0, 0, without_follower.clone()))
        .unwrap();
    assert_eq!(state.partition_epoch, 1);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        c.alter_partition(epochs[l as usize], &req(0, 0, r.isr.clone())),
        Err(ErrorCode::InvalidUpdateVersion),
        "based on partition epoch 0, now 1"
    );
    assert_eq!(
        c.alter_partition(epochs[l as usize] + 100, &req(0, 1, r.isr.clone())),
        Err(ErrorCode::StaleBrokerEpoch)
    );
    assert_eq!(
        c.alter_partition(epochs[l as usize], &req(1, 1, r.isr.clone())),
        Err(ErrorCode::NotController),
        "a leader epoch from the future: this controller is behind"
    );
    assert_eq!(
        c.alter_partition(epochs[l as usize], &req(0, 2, r.isr.clone())),
        Err(ErrorCode::NotController)
    );
    assert_eq!(
        c.alter_partition(
            epochs[follower as usize],
            &AlterPartitionRequest {
                leader_id: follower,
                ..req(0, 1, r.isr.clone())
            }
        ),
        Err(ErrorCode::InvalidRequest),
        "only the leader may alter the ISR"
    );
    assert_eq!(
        c.alter_partition(epochs[l as usize], &req(0, 1, vec![follower])),
        Err(ErrorCode::InvalidRequest),
        "ISR without the leader"
    );
    assert_eq!(
        c.alter_partition(epochs[l as usize], &req(0, 1, vec![l, 99])),
        Err(ErrorCode::InvalidRequest),
        "ISR outside the replicas"
    );
    // The follower dies; it may not be added back while fenced (KIP-841).
    let alive: Vec<i32> = (0..3).filter(|&b| b != follower).collect();
    run_heartbeats(&mut c, &epochs, &alive, 1_000, 10_000);
    let pe = part(&c, 0).partition_epoch;
    let mut with_follower = without_follower;
    with_follower.push(follower);
    assert_eq!(
        c.alter_partition(epochs[l as usize], &req(0, pe, with_follower)),
        Err(ErrorCode::IneligibleReplica)
    );
}

/// KIP-903: a follower joins the ISR only from a fetch of its current incarnation. A
/// proposal carrying the broker epoch of one since replaced (a fetch the restarted broker
/// sent before its crash, read late) is refused; the current epoch, or none known, is not.
#[test]
fn alter_partition_refuses_a_joining_member_of_a_replaced_incarnation() {
    let (mut c, mut epochs) = cluster(3, 1, 3, ControllerConfig::default());
    let r = part(&c, 0);
    let l = r.leader;
    let f = *r.replicas.iter().find(|&&b| b != l).unwrap();
    let le = |c: &Controller| part(c, 0).leader_epoch;
    let req = |c: &Controller, isr: Vec<i32>, epochs: Vec<i64>| AlterPartitionRequest {
        topic_partition: tp(0),
        leader_id: l,
        leader_epoch: le(c),
        partition_epoch: part(c, 0).partition_epoch,
        new_isr: isr,
        new_isr_broker_epochs: epochs,
    };
    let without: Vec<i32> = r.isr.iter().copied().filter(|&b| b != f).collect();
    let shrink = req(&c, without.clone(), Vec::new());
    c.alter_partition(epochs[l as usize], &shrink).unwrap();
    // f restarts: a new registration, a new broker epoch; its heartbeats unfence it.
    let old = epochs[f as usize];
    let (new, _) = c.register_broker(f, None, 1_000).unwrap();
    epochs[f as usize] = new;
    run_heartbeats(&mut c, &epochs, &[0, 1, 2], 1_000, 3_000);
    assert_eq!(part(&c, 0).leader, l, "f led nothing");
    let mut with_f = without.clone();
    with_f.push(f);
    let epochs_of = |e: i64| {
        with_f
            .iter()
            .map(|&b| if b == f { e } else { -1 })
            .collect()
    };
    assert_eq!(
        c.alter_partition(epochs[l as usize], &req(&c, with_f.clone(), epochs_of(old))),
        Err(ErrorCode::IneligibleReplica),
        "the fetch was the replaced incarnation's"
    );
    let unknown = req(&c, with_f.clone(), Vec::new());
    assert!(c.alter_partition(epochs[l as usize], &unknown).is_ok());
    c.alter_partition(epochs[l as usize], &req(&c, without, Vec::new()))
        .unwrap();
    let current = req(&c, with_f.clone(), epochs_of(new));
    let (state, _) = c.alter_partition(epochs[l as usize], &current).unwrap();
    assert!(state.isr.contains(&f));
}

/// A leader whose session expired but whose process runs on (a zombie: paused, or cut off
/// from the controller) is deposed; its later ISR change carries the old leader epoch.
#[test]
fn zombie_leader_is_fenced_by_its_leader_epoch() {
    let (mut c, epochs) = cluster(3, 1, 3, ControllerConfig::default());
    let r = part(&c, 0);
    let zombie = r.leader;
    let alive: Vec<i32> = (0..3).filter(|&b| b != zombie).collect();
    run_heartbeats(&mut c, &epochs, &alive, 1_000, 10_000);
    let now = part(&c, 0);
    assert_eq!(now.leader_epoch, 1);
    assert_eq!(
        c.alter_partition(
            epochs[zombie as usize],
            &AlterPartitionRequest {
                topic_partition: tp(0),
                leader_id: zombie,
                leader_epoch: 0,
                partition_epoch: r.partition_epoch,
                new_isr: vec![zombie],
                new_isr_broker_epochs: Vec::new(),
            }
        ),
        Err(ErrorCode::FencedLeaderEpoch)
    );
}

#[test]
fn heartbeat_of_an_old_incarnation_is_stale_and_restart_moves_leadership() {
    let (mut c, epochs) = cluster(3, 3, 3, ControllerConfig::default());
    let led_by_0: Vec<i32> = (0..3).filter(|&p| part(&c, p).leader == 0).collect();
    assert!(!led_by_0.is_empty());
    let (new_epoch, recs) = c.register_broker(0, None, 1_000).unwrap();
    assert!(new_epoch > epochs[0]);
    assert!(matches!(
        recs[0],
        MetadataRecord::FenceBroker { broker_id: 0, .. }
    ));
    for p in led_by_0 {
        assert_ne!(
            part(&c, p).leader,
            0,
            "restarted broker no longer leads {p}"
        );
    }
    assert_eq!(
        c.heartbeat(0, epochs[0], 1_000),
        Err(ErrorCode::StaleBrokerEpoch)
    );
    assert_eq!(c.heartbeat(7, 0, 1_000), Err(ErrorCode::BrokerNotAvailable));
    c.heartbeat(0, new_epoch, 1_000).unwrap();
    assert!(c.metadata().is_live(0));
}

#[test]
fn preferred_leader_returns_once_back_in_the_isr() {
    let (mut c, mut epochs) = cluster(3, 1, 3, ControllerConfig::default());
    let r = part(&c, 0);
    let preferred = r.replicas[0];
    let alive: Vec<i32> = (0..3).filter(|&b| b != preferred).collect();
    run_heartbeats(&mut c, &epochs, &alive, 1_000, 10_000);
    let moved = part(&c, 0);
    assert_ne!(moved.leader, preferred);
    let (e, _) = c.register_broker(preferred, None, 11_000).unwrap();
    epochs[preferred as usize] = e;
    c.heartbeat(preferred, e, 11_000).unwrap();
    assert!(
        c.elect_preferred_leaders().is_empty(),
        "not in the ISR yet: it must catch up first"
    );
    // The current leader adds it back to the ISR once it caught up.
    let mut isr = moved.isr.clone();
    isr.push(preferred);
    c.alter_partition(
        epochs[moved.leader as usize],
        &AlterPartitionRequest {
            topic_partition: tp(0),
            leader_id: moved.leader,
            leader_epoch: moved.leader_epoch,
            partition_epoch: moved.partition_epoch,
            new_isr: isr,
            new_isr_broker_epochs: Vec::new(),
        },
    )
    .unwrap();
    assert_eq!(c.elect_preferred_leaders().len(), 1);
    let back = part(&c, 0);
    assert_eq!(back.leader, preferred);
    assert_eq!(back.leader_epoch, moved.leader_epoch + 1);
    assert!(c.elect_preferred_leaders().is_empty(), "idempotent");
    c.check_invariants().unwrap();
}

#[test]
fn topic_creation_and_deletion_errors() {
    let (mut c, _) = cluster(3, 1, 3, ControllerConfig::default());
    let mut rng = StdRng::seed_from_u64(1);
    assert_eq!(
        c.create_topic("orders", 1, 1, &mut rng),
        Err(ErrorCode::TopicAlreadyExists)
    );
    assert_eq!(
        c.create_topic("big", 1, 4, &mut rng),
        Err(ErrorCode::InvalidReplicationFactor)
    );
    assert_eq!(
        c.create_topic("none", 0, 1, &mut rng),
        Err(ErrorCode::InvalidPartitions)
    );
    assert_eq!(
        c.create_topic("", 1, 1, &mut rng),
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        c.create_topic_with_assignment("dup", vec![vec![0, 0]]),
        Err(ErrorCode::InvalidReplicaAssignment)
    );
    assert_eq!(
        c.create_topic_with_assignment("ragged", vec![vec![0, 1], vec![2]]),
        Err(ErrorCode::InvalidReplicaAssignment)
    );
    c.create_topic_with_assignment("manual", vec![vec![2, 1], vec![1, 0]])
        .unwrap();
    assert_eq!(
        c.metadata()
            .partition(&TopicPartition::new("manual", 0))
            .unwrap()
            .leader,
        2
    );
    c.delete_topic("manual").unwrap();
    assert!(!c.metadata().topics.contains_key("manual"));
    assert_eq!(
        c.delete_topic("manual"),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
}

#[test]
fn create_partitions_adds_partitions_led_round_robin_with_the_topics_replication_factor() {
    let (mut c, _) = cluster(3, 2, 2, ControllerConfig::default());
    let before: Vec<PartitionRegistration> = (0..2).map(|p| part(&c, p)).collect();
    let records = c.create_partitions("orders", 5).unwrap();
    // Only new partitions, as PartitionRecords: the existing ones are untouched.
    assert_eq!(records.len(), 3);
    for (r, p) in records.iter().zip(2..) {
        match r {
            MetadataRecord::Partition {
                topic,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
            } => {
                assert_eq!((topic.as_str(), *partition), ("orders", p));
                assert_eq!(replicas.len(), 2, "the topic's replication factor");
                assert_ne!(replicas[0], replicas[1]);
                assert_eq!(isr, replicas, "every replica is live");
                assert_eq!(*leader, replicas[0], "the preferred replica leads");
            }
            other => panic!("unexpected record {other:?}"),
        }
    }
    assert_eq!((0..2).map(|p| part(&c, p)).collect::<Vec<_>>(), before);
    assert_eq!(c.metadata().topics["orders"].partitions.len(), 5);
    // Leaders go on round robin from partition 0's: 5 partitions over 3 brokers.
    let mut leaders = [0; 3];
    for p in 0..5 {
        leaders[part(&c, p).leader as usize] += 1;
    }
    assert!(leaders.iter().all(|&n| (1..=2).contains(&n)), "{leaders:?}");
    c.check_invariants().unwrap();
}

#[test]
fn create_partitions_refuses_what_kafka_refuses() {
    let (mut c, epochs) = cluster(3, 3, 3, ControllerConfig::default());
    assert_eq!(
        c.create_partitions("orders", 3),
        Err(ErrorCode::InvalidPartitions),
        "the same count is not an increase"
    );
    assert_eq!(
        c.create_partitions("orders", 2),
        Err(ErrorCode::InvalidPartitions),
        "partitions are never removed"
    );
    assert_eq!(
        c.create_partitions("audit", 4),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
    // RF 3 needs three live brokers: with broker 2 fenced there are two.
    run_heartbeats(&mut c, &epochs, &[0, 1], 1_000, 12_000);
    assert!(!c.metadata().is_live(2));
    assert_eq!(
        c.create_partitions("orders", 4),
        Err(ErrorCode::InvalidReplicationFactor)
    );
    assert_eq!(
        c.metadata().topics["orders"].partitions.len(),
        3,
        "unchanged"
    );
}

#[test]
fn a_new_controller_rebuilds_the_same_state_from_the_log() {
    let (mut c, epochs) = cluster(3, 4, 2, ControllerConfig::default());
    run_heartbeats(&mut c, &epochs, &[1, 2], 1_000, 12_000);
    let d = Controller::from_log(c.config().clone(), c.log().to_vec(), 12_000).unwrap();
    assert_eq!(d.metadata(), c.metadata());
    assert_eq!(
        ClusterMetadata::from_records(c.log()).unwrap(),
        *c.metadata()
    );
    // The log survives a JSON round trip (traces, persisted metadata log).
    let json: Vec<String> = c
        .log()
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    assert!(
        json[0].starts_with(r#"{"type":"RegisterBroker","broker_id":0"#),
        "{}",
        json[0]
    );
    let back: Vec<MetadataRecord> = json
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    assert_eq!(back, c.log());
    assert_eq!(
        serde_json::to_string(&ErrorCode::NotLeaderOrFollower).unwrap(),
        r#""NOT_LEADER_OR_FOLLOWER""#
    );
    // Replaying a record out of order is an error, not a panic.
    let bad = MetadataRecord::PartitionChange {
        topic: "nope".into(),
        partition: 0,
        leader: Some(1),
        isr: None,
        unclean: false,
        assignment: None,
        elr: None,
        last_known_elr: None,
    };
    assert!(ClusterMetadata::from_records([&bad]).is_err());
}

/// The controller and the broker-side `Partition` working together: the leader shrinks
/// the ISR through `AlterPartition`, the controller commits it, and after a leader failure
/// the new leader's state comes from the controller's records.
#[test]
fn controller_and_partition_round_trip() {
    let (mut c, epochs) = cluster(3, 1, 3, ControllerConfig::default());
    let reg = part(&c, 0);
    let l = reg.leader;
    let mut leader = Partition::new(tp(0), l, ReplicationConfig::default());
    assert_eq!(
        leader.apply_leader_and_isr(&reg.leader_and_isr(), 0),
        Ok(Transition::BecameLeader)
    );
    leader.leader_append(10).unwrap();
    let f1 = reg.replicas[1];
    leader.follower_fetch(f1, 10, Some(0), 1_000).unwrap();
    let req = leader.maybe_shrink_isr(31_000).expect("replica 3 lagging");
    let resp = c.alter_partition(epochs[l as usize], &req).map(|(s, _)| s);
    assert!(leader.on_alter_partition_response(resp));
    assert_eq!(leader.high_watermark(), 10);
    assert_eq!(leader.isr().len(), 2);
    assert_eq!(leader.partition_epoch(), part(&c, 0).partition_epoch);
}

// ---- properties over random histories ----

#[derive(Debug, Clone)]
enum Event {
    Heartbeat(i32),
    Advance(i64),
    Restart(i32),
    /// The current leader proposes an ISR: keep members by mask, possibly with a stale
    /// partition epoch.
    Alter {
        partition: i32,
        mask: u8,
        stale: bool,
    },
    CreateTopic(u8),
    CreatePartitions(u8, i32),
    DeleteTopic(u8),
    PreferredElection,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (0i32..4).prop_map(Event::Heartbeat),
        2 => (0i64..6_000).prop_map(Event::Advance),
        1 => (0i32..4).prop_map(Event::Restart),
        3 => (0i32..3, any::<u8>(), any::<bool>()).prop_map(|(partition, mask, stale)| Event::Alter { partition, mask, stale }),
        1 => (0u8..3).prop_map(Event::CreateTopic),
        1 => (0u8..3, 0i32..6).prop_map(|(t, n)| Event::CreatePartitions(t, n)),
        1 => (0u8..3).prop_map(Event::DeleteTopic),
        1 => Just(Event::PreferredElection),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// After any history: every partition's leader is live and in the ISR, or there is none;
    /// with unclean election off every new leader was in the ISR; leader and partition
    /// epochs never go back; and the state is exactly the fold of the log.
    #[test]
    fn controller_invariants(unclean in any::<bool>(), elr in any::<bool>(), min_isr in 1usize..=3, events in proptest::collection::vec(event(), 1..150)) {
        let config = ControllerConfig {
            unclean_leader_election_enable: unclean,
            eligible_leader_replicas: elr,
            min_insync_replicas: min_isr,
            ..Default::default()
        };
        let mut c = Controller::new(config);
        let mut rng = StdRng::seed_from_u64(9);
        let mut now = 0i64;
        let mut epochs: BTreeMap<i32, i64> = BTreeMap::new();
        for b in 0..4 {
            let (e, _) = c.register_broker(b, None, now).unwrap();
            c.heartbeat(b, e, now).unwrap();
            epochs.insert(b, e);
        }
        c.create_topic("t0", 3, 3, &mut rng).unwrap();
        let mut seen_epochs: BTreeMap<TopicPartition, (i32, i32)> = BTreeMap::new();
        for ev in events {
            let before = c.metadata().clone();
            let records = match ev {
                Event::Heartbeat(b) => c.heartbeat(b, epochs[&b], now).unwrap_or_default(),
                Event::Advance(dt) => { now += dt; c.tick(now) }
                Event::Restart(b) => {
                    // Every other restart is a crash (no clean-shutdown epoch).
                    let previous = (now % 2 == 0).then(|| c.metadata().broker(b).map(|r| r.broker_epoch)).flatten();
                    let (e, r) = c.register_broker_at(b, None, None, previous, now).unwrap();
                    epochs.insert(b, e);
                    r
                }
                Event::Alter { partition, mask, stale } => {
                    let Some((tp, p)) = c.metadata().partitions().nth(partition as usize).map(|(tp, p)| (tp, p.clone())) else { continue };
                    if p.leader == NO_LEADER { continue; }
                    let mut new_isr: Vec<i32> = p.replicas.iter().copied().enumerate()
                        .filter(|&(i, r)| r == p.leader || mask & (1 << i) != 0)
                        .map(|(_, r)| r).collect();
                    new_isr.sort_unstable();
                    let req = AlterPartitionRequest {
                        topic_partition: tp,
                        leader_id: p.leader,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: if stale { p.partition_epoch - 1 } else { p.partition_epoch },
                        new_isr: new_isr.clone(),
                        new_isr_broker_epochs: Vec::new(),
                    };
                    match c.alter_partition(epochs[&p.leader], &req) {
                        Ok((state, r)) => {
                            prop_assert!(!stale);
                            let mut isr = state.isr.clone();
                            isr.sort_unstable();
                            prop_assert_eq!(isr, new_isr);
                            r
                        }
                        Err(e) => {
                            prop_assert!(stale || e == ErrorCode::IneligibleReplica, "unexpected {e}");
                            Vec::new()
                        }
                    }
                }
                Event::CreateTopic(i) => c.create_topic(&format!("t{i}"), 2, 2, &mut rng).unwrap_or_default(),
                Event::CreatePartitions(i, count) => {
                    let topic = format!("t{i}");
                    let had = c.metadata().topics.get(&topic).map(|t| t.partitions.len() as i32);
                    match c.create_partitions(&topic, count) {
                        Ok(r) => {
                            prop_assert!(had.is_some_and(|n| count > n));
                            prop_assert_eq!(c.metadata().topics[&topic].partitions.len() as i32, count);
                            r
                        }
                        Err(e) => {
                            prop_assert!(match had {
                                None => e == ErrorCode::UnknownTopicOrPartition,
                                Some(n) if count <= n => e == ErrorCode::InvalidPartitions,
                                Some(_) => e == ErrorCode::InvalidReplicationFactor,
                            }, "unexpected {e}");
                            Vec::new()
                        }
                    }
                }
                Event::DeleteTopic(i) => c.delete_topic(&format!("t{i}")).unwrap_or_default(),
                Event::PreferredElection => c.elect_preferred_leaders(),
            };
            if let Err(e) = c.check_invariants() {
                return Err(TestCaseError::fail(e));
            }
            // Clean elections only pick ISR members (of the ISR before the change).
            let mut shadow = before.clone();
            for r in &records {
                if let MetadataRecord::PartitionChange { topic, partition, leader: Some(l), unclean: u, .. } = r {
                    let prev = shadow.partition(&TopicPartition::new(topic.clone(), *partition)).unwrap().clone();
                    if *l != NO_LEADER && *l != prev.leader {
                        if !u {
                            prop_assert!(prev.isr.contains(l) || prev.elr.contains(l), "clean leader {} not in ISR {:?} or ELR {:?}", l, prev.isr, prev.elr);
                        } else {
                            // Unclean: allowed, or KIP-966's last known leader.
                            prop_assert!(unclean || prev.last_known_elr == vec![*l], "unclean election while disabled");
                        }
                    }
                }
                shadow.replay(r).unwrap();
            }
            prop_assert_eq!(&shadow, c.metadata());
            // Epochs never go back while the topic lives.
            seen_epochs.retain(|tp, _| c.metadata().partition(tp).is_some());
            for (tp, p) in c.metadata().partitions() {
                if let Some(&(le, pe)) = seen_epochs.get(&tp) {
                    prop_assert!(p.leader_epoch >= le && p.partition_epoch >= pe);
                }
                seen_epochs.insert(tp, (p.leader_epoch, p.partition_epoch));
            }
        }
        prop_assert_eq!(&ClusterMetadata::from_records(c.log()).unwrap(), c.metadata());
    }
}

/// The ISR `leader` asks for with `add` joined (as the leader's `AlterPartition` after a
/// follower caught up).
fn join_isr(c: &mut Controller, epochs: &[i64], p: i32, add: i32) -> Vec<MetadataRecord> {
    let r = part(c, p);
    let mut isr = r.isr.clone();
    isr.push(add);
    c.alter_partition(
        epochs[r.leader as usize],
        &AlterPartitionRequest {
            topic_partition: tp(p),
            leader_id: r.leader,
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            new_isr: isr,
            new_isr_broker_epochs: Vec::new(),
        },
    )
    .unwrap()
    .1
}

#[test]
fn controlled_shutdown_moves_leadership_and_isr_before_letting_the_broker_go() {
    let (mut c, epochs) = cluster(3, 3, 3, ControllerConfig::default());
    let leader = part(&c, 0).leader;
    let led: Vec<i32> = (0..3).filter(|&p| part(&c, p).leader == leader).collect();
    let offset = c.log().len() as u64;
    let (records, go) = c
        .controlled_shutdown(leader, epochs[leader as usize], offset, 1_000)
        .unwrap();
    assert!(!go, "its metadata does not have the moves yet");
    assert!(matches!(
        records[0],
        MetadataRecord::BrokerRegistrationChange {
            in_controlled_shutdown: true,
            ..
        }
    ));
    for p in 0..3 {
        let r = part(&c, p);
        assert_ne!(
            r.leader, leader,
            "orders-{p} still led by the stopping broker"
        );
        assert!(!r.isr.contains(&leader), "orders-{p} ISR {:?}", r.isr);
    }
    for &p in &led {
        assert_eq!(part(&c, p).leader_epoch, 1, "one election, no more");
    }
    // Not elected back while it shuts down, not even as preferred leader.
    assert!(c.elect_preferred_leaders().is_empty());
    assert!(!c.metadata().is_active(leader) && c.metadata().is_live(leader));
    // Once its metadata reached the moves it is fenced and may go.
    let caught_up = c.log().len() as u64;
    let (records, go) = c
        .controlled_shutdown(leader, epochs[leader as usize], caught_up, 1_100)
        .unwrap();
    assert!(go);
    assert!(matches!(records[0], MetadataRecord::FenceBroker { .. }));
    assert!(!c.metadata().is_live(leader));
    c.check_invariants().unwrap();
}

/// Explore compacted-leader-failover seed 9181: `__consumer_offsets` was created while
/// broker-1 was in controlled shutdown, with leaderships on broker-1, so its shutdown
/// waited for good (it "leads" partitions nothing moves off again) and it never came back.
#[test]
fn a_shutting_down_broker_gets_no_replica_of_a_new_topic_or_partition_and_still_goes() {
    let (mut c, epochs) = cluster(4, 2, 2, ControllerConfig::default());
    let stopping = 1;
    c.controlled_shutdown(stopping, epochs[stopping as usize], 0, 1_000)
        .unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    for seed in 0..8 {
        let mut rng = StdRng::seed_from_u64(seed);
        let name = format!("new-{seed}");
        c.create_topic(&name, 6, 3, &mut rng).unwrap();
        for p in c.metadata().topics[name.as_str()].partitions.values() {
            assert!(!p.replicas.contains(&stopping), "{name}: {:?}", p.replicas);
        }
    }
    c.create_partitions("orders", 6).unwrap();
    for p in 2..6 {
        assert!(!part(&c, p).replicas.contains(&stopping), "orders-{p}");
    }
    // Three usable brokers are left: a replication factor of four cannot be placed.
    assert_eq!(
        c.create_topic("wide", 1, 4, &mut rng).unwrap_err(),
        ErrorCode::InvalidReplicationFactor
    );
    // An explicit assignment may name it, but it neither leads nor joins the ISR.
    c.create_topic_with_assignment("manual", vec![vec![stopping, 0]])
        .unwrap();
    let manual = &c.metadata().topics["manual"].partitions[&0];
    assert_eq!((manual.leader, manual.isr.clone()), (0, vec![0]));
    assert_eq!(
        c.create_topic_with_assignment("only-it", vec![vec![stopping]])
            .unwrap_err(),
        ErrorCode::InvalidReplicaAssignment
    );
    // So it leads nothing, and once its metadata is current it is let go.
    let caught_up = c.log().len() as u64;
    let (_, go) = c
        .controlled_shutdown(stopping, epochs[stopping as usize], caught_up, 1_100)
        .unwrap();
    assert!(go, "the stopping broker is held back");
    c.check_invariants().unwrap();
}

#[test]
fn a_shutting_down_broker_may_not_rejoin_an_isr() {
    let (mut c, epochs) = cluster(3, 1, 3, ControllerConfig::default());
    let r = part(&c, 0);
    let follower = r.replicas[1];
    c.controlled_shutdown(follower, epochs[follower as usize], 0, 1_000)
        .unwrap();
    let r = part(&c, 0);
    assert!(!r.isr.contains(&follower));
    let mut isr = r.isr.clone();
    isr.push(follower);
    let asked = c.alter_partition(
        epochs[r.leader as usize],
        &AlterPartitionRequest {
            topic_partition: tp(0),
            leader_id: r.leader,
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            new_isr: isr,
            new_isr_broker_epochs: Vec::new(),
        },
    );
    assert_eq!(asked.unwrap_err(), ErrorCode::IneligibleReplica);
}

#[test]
fn reassignment_adds_replicas_then_removes_the_old_once_the_new_are_in_sync() {
    let (mut c, epochs) = cluster(4, 1, 2, ControllerConfig::default());
    let before = part(&c, 0);
    let old_leader = before.leader;
    // Move to two brokers that do not host it, in a chosen order.
    let target: Vec<i32> = (0..4).filter(|b| !before.replicas.contains(b)).collect();
    assert_eq!(target.len(), 2);
    c.alter_partition_reassignment(&tp(0), &target).unwrap();
    let during = part(&c, 0);
    let mut union = target.clone();
    union.extend(&before.replicas);
    assert_eq!(
        during.replicas, union,
        "the target first, then the replicas to remove"
    );
    assert_eq!(during.adding_replicas, target);
    assert_eq!(during.removing_replicas, before.replicas);
    assert_eq!(
        during.leader, old_leader,
        "the old leader serves until the end"
    );
    assert_eq!(during.isr, before.isr);
    // The first new replica catches up: not done yet.
    join_isr(&mut c, &epochs, 0, target[0]);
    assert_eq!(part(&c, 0).adding_replicas, target);
    // The second: the reassignment completes.
    join_isr(&mut c, &epochs, 0, target[1]);
    let after = part(&c, 0);
    assert_eq!(after.replicas, target);
    assert!(after.adding_replicas.is_empty() && after.removing_replicas.is_empty());
    assert_eq!(after.isr, target);
    assert_eq!(
        after.leader, target[0],
        "the old leader handed over to the target"
    );
    c.check_invariants().unwrap();
}

#[test]
fn reassignment_to_a_reordering_of_the_same_replicas_completes_at_once_and_keeps_the_leader() {
    let (mut c, _) = cluster(3, 1, 3, ControllerConfig::default());
    let before = part(&c, 0);
    let reversed: Vec<i32> = before.replicas.iter().rev().copied().collect();
    c.alter_partition_reassignment(&tp(0), &reversed).unwrap();
    let after = part(&c, 0);
    assert_eq!(after.replicas, reversed);
    assert_eq!(after.leader, before.leader);
    assert!(after.adding_replicas.is_empty());
}

#[test]
fn reassignment_refuses_bad_replica_lists() {
    let (mut c, _) = cluster(3, 1, 2, ControllerConfig::default());
    for bad in [vec![], vec![0, 0], vec![0, 7]] {
        assert_eq!(
            c.alter_partition_reassignment(&tp(0), &bad),
            Err(ErrorCode::InvalidReplicaAssignment),
            "{bad:?}"
        );
    }
    assert_eq!(
        c.alter_partition_reassignment(&tp(5), &[0, 1]),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
}

#[test]
fn preferred_election_of_one_partition_answers_as_kafka_does() {
    let (mut c, epochs) = cluster(3, 1, 3, ControllerConfig::default());
    assert_eq!(
        c.elect_preferred_leader(&tp(0)),
        Err(ErrorCode::ElectionNotNeeded)
    );
    assert_eq!(
        c.elect_preferred_leader(&tp(1)),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
    let preferred = part(&c, 0).replicas[0];
    let alive: Vec<i32> = (0..3).filter(|&b| b != preferred).collect();
    run_heartbeats(&mut c, &epochs, &alive, 1_000, 10_000);
    assert_ne!(part(&c, 0).leader, preferred);
    // Back and heartbeating, but not in the ISR yet.
    let (e, _) = c.register_broker(preferred, None, 11_000).unwrap();
    c.heartbeat(preferred, e, 11_000).unwrap();
    assert_eq!(
        c.elect_preferred_leader(&tp(0)),
        Err(ErrorCode::PreferredLeaderNotAvailable)
    );
    let mut epochs = epochs;
    epochs[preferred as usize] = e;
    join_isr(&mut c, &epochs, 0, preferred);
    let epoch = part(&c, 0).leader_epoch;
    c.elect_preferred_leader(&tp(0)).unwrap();
    assert_eq!(part(&c, 0).leader, preferred);
    assert_eq!(part(&c, 0).leader_epoch, epoch + 1);
}
