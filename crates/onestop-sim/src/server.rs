//! One accept loop serving an axum router (HTTP/1.1 and h2c, so gRPC too)
//! whose listener and connections it owns, so that it can stop accepting
//! without touching open connections (`refuse`) or drop everything at once
//! like a crashed process (`crash`).

use std::{io, net::SocketAddr, time::Duration};

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot},
    task::{JoinHandle, JoinSet},
};
use tracing::{debug, warn};

/// How long [`ServerHandle::crash`] waits for the loop to drop its
/// connections before aborting it outright.
const CRASH_GRACE: Duration = Duration::from_secs(2);

enum Command {
    /// Start accepting on this (freshly bound) listener.
    Listen(TcpListener),
    /// Close the listener; acknowledge once it is closed.
    Refuse(oneshot::Sender<()>),
}

/// A running accept loop. Dropping the handle crashes the server too (the
/// loop ends when its command channel closes), just without waiting.
#[derive(Debug)]
pub(crate) struct ServerHandle {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Listen(l) => f.debug_tuple("Listen").field(&l.local_addr().ok()).finish(),
            Command::Refuse(_) => f.write_str("Refuse"),
        }
    }
}

impl ServerHandle {
    /// Serves `app` on `listener` (or on nothing, until [`Self::listen`],
    /// when `listener` is `None`).
    pub fn spawn(name: String, listener: Option<TcpListener>, app: Router) -> ServerHandle {
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(accept_loop(name, listener, rx, app));
        ServerHandle { commands, task }
    }

    /// Starts accepting on `listener` instead of the current one, if any.
    pub fn listen(&self, listener: TcpListener) {
        // A send error means the loop is gone; the listener is dropped with it.
        let _ = self.commands.send(Command::Listen(listener));
    }

    /// Closes the listener, keeping open connections; returns once closed.
    pub async fn refuse(&self) {
        let (ack, done) = oneshot::channel();
        if self.commands.send(Command::Refuse(ack)).is_ok() {
            let _ = done.await;
        }
    }

    /// Closes the listener and drops every connection; returns once they are gone.
    pub async fn crash(self) {
        let ServerHandle { commands, mut task } = self;
        drop(commands); // the loop sees the channel close and tears down
        if tokio::time::timeout(CRASH_GRACE, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn accept_loop(
    name: String,
    mut listener: Option<TcpListener>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    app: Router,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Listen(l)) => listener = Some(l),
                Some(Command::Refuse(ack)) => {
                    listener = None;
                    let _ = ack.send(());
                }
                None => break,
            },
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(builder.clone(), stream, peer, app.clone()));
                }
                Err(error) => {
                    // Typically EMFILE; back off instead of spinning.
                    warn!(server = %name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Aborts every connection task and waits until each is dropped, which
    // closes its socket.
    connections.shutdown().await;
    debug!(server = %name, "server stopped");
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
) {
    // Small JSON answers must not wait for delayed ACKs.
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(app);
    if let Err(error) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        debug!(%peer, %error, "connection ended with an error");
    }
}

/// Binds `addr`, mapping the error to one that names the address.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, crate::SimError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| crate::SimError::Bind { addr, source })
}
