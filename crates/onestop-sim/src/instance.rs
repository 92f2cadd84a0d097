//! One department instance: its shared state (knobs, counters) and the
//! lifecycle of its socket — serving, refusing, down and back up on the same
//! address.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, atomic::AtomicU64},
};

use axum::{Router, http::HeaderValue};
use serde::Serialize;
use tokio::{net::TcpListener, sync::Mutex};
use tracing::info;

use crate::{
    SimError,
    faults::{self, Counters, FaultPatch, Faults, Knobs, Stats},
    server::{self, ServerHandle},
    signature::Guard,
};

/// What handlers and the fault middleware share about their instance.
#[derive(Debug)]
pub(crate) struct InstanceState {
    /// `{dept}-{n}`.
    pub id: String,
    pub dept: &'static str,
    /// `n` in the id.
    pub ordinal: usize,
    pub addr: SocketAddr,
    pub header_value: HeaderValue,
    pub knobs: Knobs,
    pub counters: Counters,
    /// Numbers receipts this instance hands out.
    pub receipts: AtomicU64,
    /// Checks the gateway's signature when the fleet has a signing key;
    /// handlers then take the citizen from the signed header only.
    pub guard: Option<Guard>,
}

impl InstanceState {
    /// Whether requests are signed (and identity comes from the gateway).
    pub fn signed(&self) -> bool {
        self.guard.is_some()
    }
}

/// The control API's view of an instance.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct InstanceReport {
    pub id: String,
    pub dept: &'static str,
    pub addr: SocketAddr,
    pub faults: Faults,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug)]
struct Lifecycle {
    refuse: bool,
    /// `None` exactly when the instance is down.
    server: Option<ServerHandle>,
}

/// A running (or crashed) instance.
#[derive(Debug)]
pub(crate) struct Instance {
    pub state: Arc<InstanceState>,
    /// The department's router, already wrapped in the fault middleware.
    app: Router,
    life: Mutex<Lifecycle>,
}

impl Instance {
    /// Binds `bind_ip:0` for instance `ordinal` of `dept`: the socket
    /// accepts connections from here on; they are served once [`Self::serve`]
    /// runs. With a `guard`, requests must carry the gateway's signature.
    pub async fn bind(
        dept: &'static str,
        ordinal: usize,
        bind_ip: IpAddr,
        guard: Option<Guard>,
    ) -> Result<(Arc<InstanceState>, TcpListener), SimError> {
        let any_port = SocketAddr::new(bind_ip, 0);
        let listener = server::bind(any_port).await?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: any_port,
            source,
        })?;
        let id = format!("{dept}-{ordinal}");
        let state = Arc::new(InstanceState {
            header_value: faults::header_value(&id),
            id,
            dept,
            ordinal,
            addr,
            knobs: Knobs::default(),
            counters: Counters::default(),
            receipts: AtomicU64::new(0),
            guard,
        });
        Ok((state, listener))
    }

    /// Serves `app`, wrapped in the fault middleware, on `listener`.
    pub fn serve(state: Arc<InstanceState>, listener: TcpListener, app: Router) -> Instance {
        let app = app.layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            faults::inject,
        ));
        let server = ServerHandle::spawn(state.id.clone(), Some(listener), app.clone());
        info!(dept = %state.dept, instance = %state.id, addr = %state.addr, "instance listening");
        Instance {
            state,
            app,
            life: Mutex::new(Lifecycle {
                refuse: false,
                server: Some(server),
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.state.id
    }

    pub fn report(&self) -> InstanceReport {
        InstanceReport {
            id: self.state.id.clone(),
            dept: self.state.dept,
            addr: self.state.addr,
            faults: self.state.knobs.snapshot(),
            stats: self.state.counters.snapshot(),
        }
    }

    /// Applies a validated patch; socket changes have taken effect when this
    /// returns (a refused or crashed listener is closed, a revived one bound).
    pub async fn apply(&self, patch: &FaultPatch) -> Result<(), SimError> {
        self.state.knobs.apply_value_knobs(patch);
        let mut life = self.life.lock().await;
        let result = self.apply_sockets(&mut life, patch).await;
        self.state
            .knobs
            .mirror_sockets(life.refuse, life.server.is_none());
        result
    }

    async fn apply_sockets(
        &self,
        life: &mut Lifecycle,
        patch: &FaultPatch,
    ) -> Result<(), SimError> {
        let id = &self.state.id;
        if let Some(refuse) = patch.refuse
            && refuse != life.refuse
        {
            if let Some(server) = &life.server {
                if refuse {
                    server.refuse().await;
                } else {
                    server.listen(server::bind(self.state.addr).await?);
                }
            }
            life.refuse = refuse;
            info!(instance = %id, refuse, "refuse knob changed");
        }
        match (patch.down, life.server.take()) {
            (Some(true), Some(server)) => {
                server.crash().await;
                info!(instance = %id, addr = %self.state.addr, "instance crashed (down)");
            }
            (Some(false), None) => {
                let listener = match life.refuse {
                    true => None,
                    false => Some(server::bind(self.state.addr).await?),
                };
                life.server = Some(ServerHandle::spawn(id.clone(), listener, self.app.clone()));
                info!(instance = %id, addr = %self.state.addr, "instance back up");
            }
            (_, server) => life.server = server,
        }
        Ok(())
    }

    /// Stops serving for good; the instance reports itself down (so the
    /// registrar stops renewing its lease).
    pub async fn stop(&self) {
        let mut life = self.life.lock().await;
        if let Some(server) = life.server.take() {
            server.crash().await;
        }
        self.state.knobs.mirror_sockets(life.refuse, true);
    }
}

impl Drop for Instance {
    /// A dropped instance no longer serves (its server handle goes with it):
    /// report it down, so that a registrar outliving the fleet stops
    /// renewing its lease.
    fn drop(&mut self) {
        let refuse = self.state.knobs.snapshot().refuse;
        self.state.knobs.mirror_sockets(refuse, true);
    }
}
