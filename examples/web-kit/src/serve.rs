//! The server loop: `axum::serve` with a timer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::Settings;

impl Settings {
    /// Serve `router` on `listener` over HTTP/1.1 until `shutdown`
    /// completes, then let open requests finish (for at most
    /// [`request_timeout`](Self::request_timeout)).
    ///
    /// What `axum::serve` does, plus: a client must send each request's
    /// head within [`header_timeout`](Self::header_timeout), which also
    /// closes idle keep-alive connections (slowloris; `axum::serve` sets no
    /// timer, so it waits forever), and at most
    /// [`max_connections`](Self::max_connections) are served at once.
    /// Combine with [`harden`](Self::harden), whose request timeout bounds
    /// the body and the handler.
    ///
    /// # Errors
    ///
    /// Never, today: a failed `accept` (too many open files) is logged and
    /// retried after a pause, as `axum::serve` does.
    pub async fn serve(
        &self,
        listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot.map_err(std::io::Error::other)?,
                () = &mut shutdown => break,
            };
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        log::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(router.clone());
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    log::debug!("connection closed: {e}");
                }
                drop(slot);
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(self.request_timeout, graceful.shutdown()).await;
        Ok(())
    }
}
