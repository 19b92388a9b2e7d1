//! `timeout` that arms its timer once.
//!
//! madsim's `Sleep` adds a new entry to the simulated timer every time it is polled while
//! pending, and its `timeout` polls the sleep each time the wrapped future is polled. A
//! request that waits 30 s for its response is polled several times before it is answered
//! (the response's arrival, the network's delivery delay, wake-ups of the task it runs in),
//! and each poll left one more timer behind that later fired into the task for nothing
//! and woke it to be polled again. Those spurious timers were most of a run's timer
//! events. This `timeout` registers its deadline once per task waker; a later poll only
//! checks whether the deadline has passed.
//!
//! Outside the simulation it is tokio's `timeout`, which does not have the problem.

use std::future::Future;
#[cfg(madsim)]
use std::pin::Pin;
#[cfg(madsim)]
use std::task::{Context, Poll, Waker};

use madsim::time::error::Elapsed;
use madsim::time::Duration;

/// Requires `future` to complete within `duration` of simulated time.
#[cfg(not(madsim))]
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    madsim::time::timeout(duration, future).await
}

/// Requires `future` to complete within `duration` of simulated time.
#[cfg(madsim)]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: madsim::time::sleep(duration),
        armed_for: None,
    }
}

/// The future [`timeout`] returns.
#[cfg(madsim)]
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: madsim::time::Sleep,
    /// The waker the deadline's timer wakes, once registered.
    armed_for: Option<Waker>,
}

#[cfg(madsim)]
impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The wrapped future first, as madsim's and tokio's `timeout` do: an answer that
        // arrives at the deadline still counts.
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let armed = self
            .armed_for
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if armed {
            if self.sleep.is_elapsed() {
                return Poll::Ready(Err(Elapsed));
            }
            return Poll::Pending;
        }
        // First poll (or a new waker): this poll registers the deadline's timer.
        if Pin::new(&mut self.sleep).poll(cx).is_ready() {
            return Poll::Ready(Err(Elapsed));
        }
        self.armed_for = Some(cx.waker().clone());
        Poll::Pending
    }
}
