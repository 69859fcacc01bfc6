//! Request bodies that must arrive in time: actix-web times out a request's headers
//! (`client_request_timeout`) but not its body, so a client that sends headers and then
//! one byte of a 100-byte body would hold its connection and a worker's attention for as
//! long as it likes. Every body is read under a deadline; a body late past it ends in an
//! I/O error of kind `TimedOut`, which [`crate::app`] answers with the JSON 408.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::rt::time::{Instant, Sleep, sleep_until};
use actix_web::web::Bytes;
use futures_core::Stream;

/// Puts the body of `req`, if it has one, under a deadline of `timeout` from now.
pub fn read_within(req: &mut ServiceRequest, timeout: Duration) {
    match req.take_payload() {
        Payload::None => {}
        payload => req.set_payload(Payload::Stream {
            payload: Box::pin(TimedBody {
                inner: payload,
                deadline: Instant::now() + timeout,
                timeout,
                timer: None,
                timed_out: false,
            }),
        }),
    }
}

/// The answer to a body a handler reads itself and could not read: the JSON 408 of one
/// that missed its deadline (as for every body actix reads), else a 400 naming `what`.
pub fn unread(err: actix_web::Error, what: &str) -> crate::error::ApiError {
    match err.as_error::<PayloadError>() {
        Some(payload @ PayloadError::Io(e)) if is_timeout(payload) => {
            crate::error::ApiError::RequestTimeout(e.to_string())
        }
        _ => crate::error::ApiError::BadRequest(format!("{what} could not be read: {err}")),
    }
}

/// Whether `err` is a body that missed its deadline.
pub fn is_timeout(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}

struct TimedBody {
    inner: Payload,
    deadline: Instant,
    timeout: Duration,
    /// Started only when the body is not all there at once, so a body that arrives with
    /// its headers (nearly every one) costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    timed_out: bool,
}

impl Stream for TimedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.timed_out {
            return Poll::Ready(None);
        }
        if let Poll::Ready(chunk) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timed_out = true;
                let message = format!(
                    "the request body did not arrive within {} s of its headers; send it \
                     whole, then retry",
                    self.timeout.as_secs_f64()
                );
                Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    message,
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
