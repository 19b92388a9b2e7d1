//! The Raft rules one by one, then a model test: 3 or 5 voters on a network that drops,
//! duplicates, delays and reorders messages, with crashes (losing unsynced disk data) and
//! restarts, checked for election safety, log matching, leader completeness and state
//! machine safety after every step, and for liveness once the faults stop.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::raft::{Entry, Message, MessageBody, NodeId, Payload, Raft, RaftConfig, Role};
use crate::storage::{Disk, SimDisk};

const DIR: &str = "/controller/__cluster_metadata-0";

fn open(id: NodeId, voters: &[NodeId], disk: &Arc<SimDisk>) -> Raft<u64> {
    let d: Arc<dyn Disk> = disk.clone();
    let mut cfg = RaftConfig::new(id, voters.to_vec());
    cfg.election_ticks = 5;
    cfg.max_entries_per_message = 3;
    Raft::open(cfg, d, Path::new(DIR), 7 + id).expect("opens")
}

/// Voters `1..=n`, each on its own disk; messages travel only when a test delivers them.
struct Net {
    disks: BTreeMap<NodeId, Arc<SimDisk>>,
    nodes: BTreeMap<NodeId, Option<Raft<u64>>>,
    voters: Vec<NodeId>,
    in_flight: Vec<Message<u64>>,
}

impl Net {
    fn new(n: u64) -> Net {
        let voters: Vec<NodeId> = (1..=n).collect();
        let disks: BTreeMap<_, _> = voters
            .iter()
            .map(|&v| (v, Arc::new(SimDisk::new(v))))
            .collect();
        let nodes = voters
            .iter()
            .map(|&v| (v, Some(open(v, &voters, &disks[&v]))))
            .collect();
        Net {
            disks,
            nodes,
            voters,
            in_flight: Vec::new(),
        }
    }

    fn node(&mut self, id: NodeId) -> &mut Raft<u64> {
        self.nodes
            .get_mut(&id)
            .and_then(|n| n.as_mut())
            .expect("up")
    }

    fn collect(&mut self) {
        for n in self.nodes.values_mut().flatten() {
            self.in_flight.extend(n.take_messages());
        }
    }

    /// Ticks `id` until it campaigns, then delivers everything until quiet.
    fn elect(&mut self, id: NodeId) {
        while self.node(id).role() == Role::Follower {
            self.node(id).tick();
        }
        self.settle();
    }

    /// Delivers every message (and the ones they cause) in order.
    fn settle(&mut self) {
        self.collect();
        while !self.in_flight.is_empty() {
            let m = self.in_flight.remove(0);
            if let Some(Some(n)) = self.nodes.get_mut(&m.to) {
                n.step(m);
            }
            self.collect();
        }
    }

    fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.disks[&id].crash();
    }

    fn restart(&mut self, id: NodeId) {
        let r = open(id, &self.voters, &self.disks[&id]);
        self.nodes.insert(id, Some(r));
    }
}

fn append(
    from: NodeId,
    to: NodeId,
    term: u64,
    prev: (u64, u64),
    entries: &[(u64, u64)],
) -> Message<u64> {
    Message {
        from,
        to,
        term,
        body: MessageBody::AppendEntries {
            prev_index: prev.0,
            prev_term: prev.1,
            entries: entries
                .iter()
                .enumerate()
                .map(|(i, &(term, v))| Entry {
                    term,
                    index: prev.0 + 1 + i as u64,
                    payload: Payload::Data(v),
                })
                .collect(),
            commit: 0,
        },
    }
}

fn vote_request(from: NodeId, to: NodeId, term: u64, last: (u64, u64)) -> Message<u64> {
    Message {
        from,
        to,
        term,
        body: MessageBody::RequestVote {
            last_index: last.0,
            last_term: last.1,
        },
    }
}

fn terms(r: &Raft<u64>) -> Vec<u64> {
    r.log().iter().map(|e| e.term).collect()
}

fn ticks_until_campaign(r: &mut Raft<u64>) -> u32 {
    let mut ticks = 0;
    while r.role() == Role::Follower {
        r.tick();
        ticks += 1;
    }
    ticks
}

#[test]
fn a_follower_campaigns_after_its_randomized_election_timeout_and_wins_a_majority() {
    let mut net = Net::new(3);
    // A fresh quorum's first election comes within one base timeout.
    let ticks = ticks_until_campaign(net.node(1));
    assert!(
        (1..=5).contains(&ticks),
        "first timeout in [1, 5], was {ticks}"
    );
    assert_eq!(net.node(1).role(), Role::Candidate);
    assert_eq!(net.node(1).term(), 1);
    net.settle();
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(2).leader(), Some(1));
    assert_eq!(net.node(3).voted_for(), Some(1));
    // Later ones within [5, 10) ticks of the last word from a leader.
    let ticks = ticks_until_campaign(net.node(2));
    assert!((5..10).contains(&ticks), "timeout in [5, 10), was {ticks}");
    net.crash(3);
    net.restart(3);
    let ticks = ticks_until_campaign(net.node(3));
    assert!((5..10).contains(&ticks), "after a restart too, was {ticks}");
}

#[test]
fn a_new_leader_appends_a_leader_change_entry_and_commits_it_on_a_majority() {
    let mut net = Net::new(3);
    net.elect(1);
    let e = &net.node(1).log()[0];
    assert_eq!((e.term, e.index), (1, 1));
    assert_eq!(e.payload, Payload::LeaderChange { leader: 1 });
    assert_eq!(net.node(1).commit_index(), 1);
    let committed = net.node(1).take_committed();
    assert_eq!(committed.len(), 1);
    assert!(net.node(1).take_committed().is_empty(), "handed out once");
}

#[test]
fn one_vote_per_term_even_across_a_crash() {
    let mut net = Net::new(3);
    net.node(3).step(vote_request(1, 3, 1, (0, 0)));
    let granted =
        |m: &Message<u64>| matches!(m.body, MessageBody::RequestVoteResponse { granted: true });
    assert!(net.node(3).take_messages().iter().all(granted));
    net.crash(3);
    net.restart(3);
    assert_eq!(net.node(3).voted_for(), Some(1), "the vote was fsynced");
    net.node(3).step(vote_request(2, 3, 1, (0, 0)));
    let out = net.node(3).take_messages();
    assert_eq!(out.len(), 1);
    assert!(!granted(&out[0]), "a second candidate of term 1 is refused");
}

#[test]
fn no_vote_for_a_candidate_with_a_less_up_to_date_log() {
    let mut net = Net::new(3);
    net.node(3)
        .step(append(1, 3, 2, (0, 0), &[(1, 10), (2, 11)]));
    net.node(3).take_messages();
    // Shorter log of the same last term; and a longer log of an older last term.
    for last in [(1, 2), (5, 1)] {
        net.node(3).step(vote_request(2, 3, 3, last));
        let out = net.node(3).take_messages();
        assert_eq!(
            out[0].body,
            MessageBody::RequestVoteResponse { granted: false },
            "{last:?}"
        );
    }
    net.node(3).step(vote_request(2, 3, 4, (2, 2)));
    assert_eq!(
        net.node(3).take_messages()[0].body,
        MessageBody::RequestVoteResponse { granted: true }
    );
}

#[test]
fn a_higher_term_makes_a_leader_step_down_and_an_older_term_is_answered_with_ours() {
    let mut net = Net::new(3);
    net.elect(1);
    net.node(1).step(vote_request(2, 1, 5, (0, 0)));
    assert_eq!(net.node(1).role(), Role::Follower);
    assert_eq!(net.node(1).term(), 5);
    net.node(1).take_messages();
    net.node(1).step(append(3, 1, 4, (0, 0), &[]));
    let out = net.node(1).take_messages();
    assert_eq!(out[0].term, 5, "the stale leader learns the newer term");
    assert!(matches!(
        out[0].body,
        MessageBody::AppendEntriesResponse { success: false, .. }
    ));
}

#[test]
fn append_entries_fails_the_consistency_check_on_a_missing_or_mismatched_previous_entry() {
    let mut net = Net::new(3);
    net.node(2).step(append(1, 2, 1, (3, 1), &[(1, 1)]));
    let out = net.node(2).take_messages();
    assert_eq!(
        out[0].body,
        MessageBody::AppendEntriesResponse {
            index: 3,
            success: false,
            hint: 0
        }
    );
    net.node(2).step(append(1, 2, 2, (0, 0), &[(1, 1), (1, 2)]));
    net.node(2).take_messages();
    net.node(2).step(append(1, 2, 2, (2, 2), &[(2, 3)]));
    let out = net.node(2).take_messages();
    assert!(matches!(
        out[0].body,
        MessageBody::AppendEntriesResponse { success: false, .. }
    ));
    assert_eq!(net.node(2).last_index(), 2, "nothing appended");
}

#[test]
fn a_conflicting_suffix_is_truncated_and_replaced_durably_but_a_matching_duplicate_changes_nothing()
{
    let mut net = Net::new(3);
    net.node(2)
        .step(append(1, 2, 1, (0, 0), &[(1, 1), (1, 2), (1, 3)]));
    // A delayed duplicate of a prefix must not truncate what follows it.
    net.node(2).step(append(1, 2, 1, (0, 0), &[(1, 1)]));
    assert_eq!(terms(net.node(2)), vec![1, 1, 1]);
    net.node(2).step(append(3, 2, 2, (1, 1), &[(2, 20)]));
    assert_eq!(terms(net.node(2)), vec![1, 2]);
    net.crash(2);
    net.restart(2);
    let log = net.node(2).log().to_vec();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].payload, Payload::Data(20));
}

#[test]
fn the_leader_commits_an_older_term_entry_only_through_an_entry_of_its_own_term() {
    let mut net = Net::new(3);
    net.elect(1);
    net.node(1).propose(5).unwrap();
    // Only node 2 gets the proposal; then node 1 crashes and node 2 leads term 2.
    net.collect();
    net.in_flight.retain(|m| m.to == 2);
    net.crash(1);
    net.crash(3);
    net.settle();
    net.restart(3);
    net.elect(2);
    assert!(net.node(2).is_leader());
    let log = net.node(2).log().to_vec();
    assert_eq!(terms(net.node(2)), vec![1, 1, 2]);
    assert_eq!(log[1].payload, Payload::Data(5));
    assert_eq!(log[2].payload, Payload::LeaderChange { leader: 2 });
    assert_eq!(
        net.node(2).commit_index(),
        3,
        "committed by the term-2 entry"
    );
    assert_eq!(net.node(3).log().len(), 3);
}

#[test]
fn a_leader_without_a_majority_proposes_but_never_commits_and_steps_down_by_check_quorum() {
    let mut net = Net::new(3);
    net.elect(1);
    net.crash(2);
    net.crash(3);
    let index = net.node(1).propose(9).unwrap();
    for _ in 0..20 {
        net.node(1).tick();
    }
    assert!(net.node(1).commit_index() < index);
    assert_ne!(net.node(1).role(), Role::Leader, "check quorum deposed it");
    assert!(net.node(1).propose(10).is_err());
}

#[test]
fn a_restarted_follower_relearns_the_commit_index_and_replays_the_whole_log() {
    let mut net = Net::new(3);
    net.elect(1);
    for v in 0..7 {
        net.node(1).propose(v).unwrap();
    }
    net.settle();
    net.crash(3);
    net.restart(3);
    assert_eq!(net.node(3).commit_index(), 0);
    for _ in 0..2 {
        net.node(1).tick();
        net.settle();
    }
    let got: Vec<_> = net.node(3).take_committed();
    assert_eq!(got.len(), 8);
    assert_eq!(got[7].payload, Payload::Data(6));
}

#[test]
fn a_lagging_follower_is_caught_up_in_bounded_messages() {
    let mut net = Net::new(3);
    net.elect(1);
    net.crash(3);
    for v in 0..20 {
        net.node(1).propose(v).unwrap();
        net.settle();
    }
    net.restart(3);
    for _ in 0..3 {
        net.node(1).tick();
        net.settle();
    }
    assert_eq!(net.node(3).last_index(), 21);
    assert_eq!(net.node(3).commit_index(), 21);
}

#[test]
fn a_torn_log_tail_is_dropped_on_restart() {
    let mut net = Net::new(3);
    net.elect(1);
    net.node(1).propose(1).unwrap();
    net.settle();
    net.disks[&2].set_torn_write(true);
    net.node(1).propose(2).unwrap();
    net.settle();
    net.disks[&2].set_torn_write(true);
    // The crash keeps a seeded prefix of the last (synced) write; what was synced stays.
    net.crash(2);
    net.restart(2);
    assert_eq!(net.node(2).last_index(), 3);
    let bytes = net.disks[&2]
        .read_file(&Path::new(DIR).join("quorum.log"))
        .unwrap();
    net.disks[&2]
        .flip_byte(&Path::new(DIR).join("quorum.log"), bytes.len() as u64 - 2)
        .unwrap();
    net.crash(2);
    net.restart(2);
    assert_eq!(
        net.node(2).last_index(),
        2,
        "the corrupt last frame is dropped"
    );
}

#[test]
fn bad_configuration_is_an_error_not_a_panic() {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(1));
    let r = Raft::<u64>::open(
        RaftConfig::new(4, vec![1, 2, 3]),
        disk.clone(),
        Path::new(DIR),
        1,
    );
    assert!(r.is_err());
    let mut cfg = RaftConfig::new(1, vec![1]);
    cfg.election_ticks = 0;
    assert!(Raft::<u64>::open(cfg, disk, Path::new(DIR), 1).is_err());
}

#[test]
fn a_single_voter_elects_itself_and_commits_alone() {
    let disk = Arc::new(SimDisk::new(1));
    let mut r = open(1, &[1], &disk);
    while !r.is_leader() {
        r.tick();
    }
    let i = r.propose(3).unwrap();
    assert_eq!(r.commit_index(), i);
    assert!(r.take_messages().is_empty());
}

// ------------------------------------------------------------------------------------------
// The model test
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Action {
    Tick(usize),
    /// Deliver the message at this position (mod the number in flight): reordering.
    Deliver(usize),
    /// Deliver it and keep a copy in flight.
    Duplicate(usize),
    Drop(usize),
    Propose(usize, u64),
    Crash(usize),
    Restart(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (0..5usize).prop_map(Action::Tick),
        10 => any::<usize>().prop_map(Action::Deliver),
        1 => any::<usize>().prop_map(Action::Duplicate),
        2 => any::<usize>().prop_map(Action::Drop),
        3 => (0..5usize, 0..1000u64).prop_map(|(n, v)| Action::Propose(n, v)),
        3 => (0..5usize).prop_map(Action::Crash),
        3 => (0..5usize).prop_map(Action::Restart),
    ]
}

/// What the model remembers across the run, to judge each invariant.
#[derive(Default)]
struct Observed {
    /// term → the node that led it.
    leaders: BTreeMap<u64, NodeId>,
    /// index → (entry, the lowest term a node had when it saw the entry committed).
    committed: BTreeMap<u64, (Entry<u64>, u64)>,
    /// index → the entry applied there, by any node.
    applied: BTreeMap<u64, Entry<u64>>,
    /// per node, the next index it should apply (reset on restart).
    next_apply: BTreeMap<NodeId, u64>,
}

impl Net {
    fn check(&mut self, seen: &mut Observed) -> Result<(), String> {
        let up: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.is_some())
            .map(|(id, _)| *id)
            .collect();
        for &id in &up {
            let n = self.node(id);
            // Election safety.
            if n.is_leader() {
                let (term, me) = (n.term(), n.id());
                if let Some(&other) = seen.leaders.get(&term) {
                    if other != me {
                        return Err(format!("term {term} has leaders {other} and {me}"));
                    }
                }
                seen.leaders.insert(term, me);
            }
            // Committed entries, and what the state machine applies.
            let (term, commit) = (n.term(), n.commit_index());
            for e in &n.log()[..commit as usize] {
                let known = seen.committed.entry(e.index).or_insert((e.clone(), term));
                if known.0 != *e {
                    return Err(format!(
                        "node {id} committed {e:?} where {:?} was committed",
                        known.0
                    ));
                }
                known.1 = known.1.min(term);
            }
            let applied = n.take_committed();
            let next = seen.next_apply.entry(id).or_insert(1);
            for e in applied {
                if e.index != *next {
                    return Err(format!("node {id} applied {} before {}", e.index, next));
                }
                *next += 1;
                // State machine safety.
                if let Some(other) = seen.applied.insert(e.index, e.clone()) {
                    if other != e {
                        return Err(format!("index {} applied as {other:?} and {e:?}", e.index));
                    }
                }
            }
        }
        // Log matching: same index and term ⇒ identical prefixes.
        for (i, &a) in up.iter().enumerate() {
            for &b in &up[i + 1..] {
                let la = self.node(a).log().to_vec();
                let lb = self.node(b).log().to_vec();
                let n = la.len().min(lb.len());
                if let Some(k) = (0..n).rev().find(|&k| la[k].term == lb[k].term) {
                    if la[..=k] != lb[..=k] {
                        return Err(format!(
                            "nodes {a} and {b} match at {} but differ before",
                            k + 1
                        ));
                    }
                }
            }
        }
        // Leader completeness: a leader of a later term holds every committed entry.
        for &id in &up {
            let n = self.node(id);
            if !n.is_leader() {
                continue;
            }
            for (index, (e, seen_term)) in &seen.committed {
                if n.term() > *seen_term && n.log().get(*index as usize - 1) != Some(e) {
                    return Err(format!(
                        "leader {id} of term {} lacks committed entry {e:?}",
                        n.term()
                    ));
                }
            }
        }
        Ok(())
    }

    fn run(&mut self, actions: &[Action], seen: &mut Observed) -> Result<(), String> {
        let n = self.voters.len();
        for a in actions {
            match *a {
                Action::Tick(i) => {
                    if let Some(Some(r)) = self.nodes.get_mut(&self.voters[i % n]) {
                        r.tick();
                    }
                }
                Action::Deliver(i) | Action::Duplicate(i) | Action::Drop(i) => {
                    if !self.in_flight.is_empty() {
                        let k = i % self.in_flight.len();
                        let m = if matches!(a, Action::Duplicate(_)) {
                            self.in_flight[k].clone()
                        } else {
                            self.in_flight.remove(k)
                        };
                        if !matches!(a, Action::Drop(_)) {
                            if let Some(Some(r)) = self.nodes.get_mut(&m.to) {
                                r.step(m);
                            }
                        }
                    }
                }
                Action::Propose(i, v) => {
                    if let Some(Some(r)) = self.nodes.get_mut(&self.voters[i % n]) {
                        let _ = r.propose(v);
                    }
                }
                Action::Crash(i) => {
                    let id = self.voters[i % n];
                    // One node down at a time keeps a majority able to make progress.
                    if self.nodes.values().all(|n| n.is_some()) {
                        self.crash(id);
                        seen.next_apply.remove(&id);
                    }
                }
                Action::Restart(i) => {
                    let id = self.voters[i % n];
                    if self.nodes[&id].is_none() {
                        self.restart(id);
                    }
                }
            }
            self.collect();
            self.check(seen)?;
        }
        Ok(())
    }

    /// Faults over: everyone up, every message delivered, time passing. A leader must
    /// emerge and commit a new proposal on every node.
    fn heal_and_commit(&mut self, seen: &mut Observed) -> Result<(), String> {
        for id in self.voters.clone() {
            if self.nodes[&id].is_none() {
                self.restart(id);
            }
        }
        for _round in 0..200 {
            for id in self.voters.clone() {
                self.node(id).tick();
            }
            self.settle();
            self.check(seen)?;
            let leader = self
                .voters
                .clone()
                .into_iter()
                .find(|&id| self.node(id).is_leader());
            if let Some(l) = leader {
                let index = self.node(l).propose(424_242).map_err(|e| e.to_string())?;
                for _ in 0..5 {
                    self.node(l).tick();
                    self.settle();
                }
                self.check(seen)?;
                for id in self.voters.clone() {
                    if self.node(id).commit_index() < index {
                        return Err(format!("node {id} did not commit {index} after healing"));
                    }
                }
                return Ok(());
            }
        }
        Err("no leader within 200 rounds after healing".into())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn raft_is_safe_under_loss_duplication_reordering_and_crashes(
        five in any::<bool>(),
        actions in proptest::collection::vec(action(), 100..800),
    ) {
        let mut net = Net::new(if five { 5 } else { 3 });
        let mut seen = Observed::default();
        net.run(&actions, &mut seen).map_err(TestCaseError::fail)?;
        net.heal_and_commit(&mut seen).map_err(TestCaseError::fail)?;
    }
}
