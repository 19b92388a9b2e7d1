//! Loopback ports for the tests that start real servers (`kafka-sim serve`, Apache Kafka's
//! broker), picked *below* the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`, 32768 and up by default).
//!
//! A test picks its ports, frees them and starts a server that binds them. Any port the OS
//! hands out by itself (a bind to port 0, and the local end of every outgoing connection: a
//! Python client's, the Java broker's, the node's own) comes from the ephemeral range, so a
//! port picked there can be taken in that gap by another process's connection, and the
//! server then cannot start. Below the range, only a program binding that very number could.

// Each test file that includes this module uses part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the search starts: clear of the well-known and commonly configured ports.
const LOWEST: u32 = 20_000;

/// A port `P` such that `P + o` is free on 127.0.0.1 for every `o` in `offsets` (all bound
/// at once while checking, then released together).
pub fn free_block(offsets: &[u16]) -> u16 {
    let span = u32::from(offsets.iter().copied().max().unwrap_or(0));
    let top = ephemeral_low().saturating_sub(span + 1);
    if top <= LOWEST + 1_000 {
        // An ephemeral range reaching down to the low ports: only the OS's picks are left.
        return from_os(offsets);
    }
    // Different in each test of a binary (a counter) and each process (its id and clock),
    // so tests running side by side start their searches far apart.
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503))
        .wrapping_add(nanos);
    let room = top - LOWEST;
    for i in 0..500u32 {
        let p = LOWEST + (seed.wrapping_add(i.wrapping_mul(7_919))) % room;
        if all_free(p as u16, offsets) {
            return p as u16;
        }
    }
    from_os(offsets)
}

/// `n` consecutive free ports from the one returned.
pub fn free_run(n: u16) -> u16 {
    free_block(&(0..n).collect::<Vec<_>>())
}

fn all_free(p: u16, offsets: &[u16]) -> bool {
    let held: Vec<Option<TcpListener>> = offsets
        .iter()
        .map(|&o| {
            p.checked_add(o)
                .and_then(|port| TcpListener::bind(("127.0.0.1", port)).ok())
        })
        .collect();
    held.iter().all(Option::is_some)
}

/// The lower bound of the ephemeral range (32768 if it cannot be read).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The old way, for a machine whose ephemeral range leaves no room below it.
fn from_os(offsets: &[u16]) -> u16 {
    for _ in 0..100 {
        let p = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        if p != 0 && all_free(p, offsets) {
            return p;
        }
    }
    panic!("no free loopback ports at offsets {offsets:?}");
}
