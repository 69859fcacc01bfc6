//! Downloads take turns on their worker, after everything else that is ready.
//!
//! A download over a fast link could send chunk after chunk for as long as its socket
//! took them, and a worker with fifty downloads answered a heartbeat only after a chunk
//! of each: seconds beside a hundred downloads on two cores. Now a download that sent a
//! chunk waits for a turn before its next. The worker's turn-giver (one task per worker
//! thread, running while any download waits) gives [`PER_ROUND`] turns each time it
//! runs, and it runs once per pass of the worker over its ready tasks, after the sockets
//! that became ready meanwhile were looked at. So on a busy worker downloads advance by a
//! few chunks per pass and requests wait behind at most those; on an idle one passes are
//! quick and a lone download runs at the link's speed.

use std::cell::RefCell;
use std::collections::VecDeque;

use tokio::sync::oneshot;

/// Turns given per pass of the worker.
const PER_ROUND: usize = 2;

#[derive(Default)]
struct Turns {
    waiting: VecDeque<oneshot::Sender<()>>,
    giving: bool,
}

thread_local! {
    static TURNS: RefCell<Turns> = RefCell::default();
}

/// A turn for the download polled on this worker thread: ready when given. Must be called
/// on an actix-web worker (a task set that runs `!Send` tasks), where response bodies are
/// polled.
pub(super) fn wait() -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    let start = TURNS.with(|turns| {
        let mut turns = turns.borrow_mut();
        turns.waiting.push_back(tx);
        !std::mem::replace(&mut turns.giving, true)
    });
    if start {
        tokio::task::spawn_local(give());
    }
    rx
}

/// Gives [`PER_ROUND`] turns each pass until no download waits.
async fn give() {
    loop {
        tokio::task::yield_now().await;
        let done = TURNS.with(|turns| {
            let mut turns = turns.borrow_mut();
            let mut given = 0;
            while given < PER_ROUND {
                let Some(turn) = turns.waiting.pop_front() else {
                    break;
                };
                // a download that went away (its receiver dropped) takes no turn
                given += usize::from(turn.send(()).is_ok());
            }
            let done = turns.waiting.is_empty();
            turns.giving = !done;
            done
        });
        if done {
            return;
        }
    }
}
