//! The fleet's case officers (承办人): simulated departments work the
//! citizens' appeals the gateway dispatched to them, over the gateway's
//! control listener (`onestop.appeals.v1.Appeals`) with their department
//! tokens — real gRPC calls, as a department's own system would make.
//!
//! Each department polls `List` every [`OfficerOptions::poll`] and, for
//! each appeal it leads:
//! - one whose title or content names a word of its
//!   [`Officer::outside_remit`] is sent back (`Return`) with a reason;
//! - a `dispatched` (or `escalated`, not yet accepted) one is accepted
//!   (`Accept`) [`Officer::accept_after`] after the officer first saw it;
//! - an accepted one is answered (`Reply`) [`Officer::reply_after`] after
//!   the officer accepted it;
//! - one that names a word of [`Officer::co_handle`] gets that department
//!   as co-handler (`AddCoHandler`, 协办) right after it is accepted.
//!
//! It also lists the appeals it co-handles (`List` with `cohandled`) and
//! gives its part (`Assist`, 协办意见) once for each.
//!
//! A department with [`Officer::silent`] never answers (its appeals go
//! overdue and the gateway escalates them); a slow one is one whose delays
//! exceed the gateway's time limits. Delays count from when the officer
//! saw the appeal, as a real officer's would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::pb::appeals as pb;
use pb::appeals_client::AppealsClient;

/// How one department works its appeals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    /// From first seeing a dispatched appeal to accepting it.
    pub accept_after: Duration,
    /// From accepting to replying.
    pub reply_after: Duration,
    /// Never act (its appeals go overdue).
    pub silent: bool,
    /// Appeals whose title or content contains one of these words are not
    /// the department's: returned with a reason.
    pub outside_remit: Vec<String>,
    /// The reply sent to citizens.
    pub reply: String,
    /// Word → department: an accepted appeal whose title or content has
    /// the word gets the department as co-handler (协办).
    pub co_handle: BTreeMap<String, String>,
}

impl Default for Officer {
    fn default() -> Officer {
        Officer {
            accept_after: Duration::from_secs(1),
            reply_after: Duration::from_secs(2),
            silent: false,
            outside_remit: Vec::new(),
            reply: "您反映的问题已核实处理，感谢您的监督。".into(),
            co_handle: BTreeMap::new(),
        }
    }
}

/// The case officers of the fleet.
#[derive(Debug, Clone)]
pub struct OfficerOptions {
    /// The gateway's control listener.
    pub control: SocketAddr,
    /// Department id → its control-plane token; departments without one
    /// do not work appeals.
    pub tokens: BTreeMap<String, String>,
    /// How each department works; departments not named use
    /// [`Officer::default`].
    pub officers: BTreeMap<String, Officer>,
    /// How often each department lists its appeals.
    pub poll: Duration,
}

impl OfficerOptions {
    pub fn new(control: SocketAddr, tokens: BTreeMap<String, String>) -> OfficerOptions {
        OfficerOptions {
            control,
            tokens,
            officers: BTreeMap::new(),
            poll: Duration::from_millis(500),
        }
    }
}

/// What an officer did (for tests and the demo's summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerAction {
    pub dept: String,
    pub appeal: String,
    /// `accept`, `reply`, `return`, `cohandler` (the department in
    /// `detail`), `assist`, or `error` (the gRPC status code's name in
    /// `detail`).
    pub action: &'static str,
    pub detail: String,
}

/// The running officers; dropping it (or [`CaseOfficers::stop`]) stops
/// them.
pub struct CaseOfficers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    log: Arc<Mutex<Vec<OfficerAction>>>,
}

impl CaseOfficers {
    /// Starts one polling task per department with a token (call on a
    /// Tokio runtime). The channel connects lazily: a gateway not yet up
    /// is retried at the next poll.
    pub fn start(opts: OfficerOptions) -> Result<CaseOfficers, crate::SimError> {
        let endpoint = Endpoint::from_shared(format!("http://{}", opts.control))
            .map_err(|e| crate::SimError::InvalidOptions(format!("control address: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10));
        let channel = endpoint.connect_lazy();
        let (stop, stopped) = watch::channel(false);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (dept, token) in &opts.tokens {
            let mut auth =
                AsciiMetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    crate::SimError::InvalidOptions(format!("the token of {dept} is not ASCII"))
                })?;
            auth.set_sensitive(true);
            let desk = Desk {
                dept: dept.clone(),
                officer: opts.officers.get(dept).cloned().unwrap_or_default(),
                client: AppealsClient::new(channel.clone()),
                auth,
                seen: HashMap::new(),
                accepted: HashMap::new(),
                assisted: HashSet::new(),
                log: log.clone(),
            };
            tasks.push(tokio::spawn(desk.run(opts.poll, stopped.clone())));
        }
        Ok(CaseOfficers { stop, tasks, log })
    }

    /// Everything the officers did so far, in order.
    pub fn actions(&self) -> Vec<OfficerAction> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops every officer and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for CaseOfficers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One department's officer.
struct Desk {
    dept: String,
    officer: Officer,
    client: AppealsClient<Channel>,
    auth: AsciiMetadataValue,
    /// Appeal → when the officer first saw it waiting for acceptance.
    seen: HashMap<String, Instant>,
    /// Appeal → when the officer accepted it.
    accepted: HashMap<String, Instant>,
    /// Co-handled appeals it gave its part to.
    assisted: HashSet<String>,
    log: Arc<Mutex<Vec<OfficerAction>>>,
}

impl Desk {
    async fn run(mut self, poll: Duration, mut stopped: watch::Receiver<bool>) {
        if self.officer.silent {
            return;
        }
        loop {
            self.work().await;
            self.assist().await;
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stopped.changed() => return,
            }
            if *stopped.borrow() {
                return;
            }
        }
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert("authorization", self.auth.clone());
        r
    }

    fn record(&self, appeal: &str, action: &'static str, detail: String) {
        if let Ok(mut log) = self.log.lock() {
            log.push(OfficerAction {
                dept: self.dept.clone(),
                appeal: appeal.to_string(),
                action,
                detail,
            });
        }
    }

    /// One pass over the department's open appeals.
    async fn work(&mut self) {
        let list = self
            .client
            .list(self.req(pb::ListRequest {
                limit: 1000,
                ..pb::ListRequest::default()
            }))
            .await;
        let Ok(list) = list else { return };
        let now = Instant::now();
        for a in list.into_inner().appeals {
            let outside = self
                .officer
                .outside_remit
                .iter()
                .any(|w| a.title.contains(w.as_str()) || a.content.contains(w.as_str()));
            let result = match a.state.as_str() {
                "dispatched" | "escalated" if outside => Some((
                    "return",
                    self.client
                        .r#return(self.req(pb::ReturnRequest {
                            id: a.id.clone(),
                            reason: "不属本部门职责，请改派".into(),
                        }))
                        .await,
                )),
                "dispatched" | "escalated" if !self.accepted.contains_key(&a.id) => {
                    let first = *self.seen.entry(a.id.clone()).or_insert(now);
                    if now.duration_since(first) < self.officer.accept_after {
                        None
                    } else {
                        Some((
                            "accept",
                            self.client
                                .accept(self.req(pb::AcceptRequest {
                                    id: a.id.clone(),
                                    note: "已签收".into(),
                                }))
                                .await,
                        ))
                    }
                }
                "accepted" | "escalated" => {
                    // Accepted by someone else before the officer ran
                    // (another instance, a restart): the delay starts now.
                    let at = *self.accepted.entry(a.id.clone()).or_insert(now);
                    if now.duration_since(at) < self.officer.reply_after {
                        None
                    } else {
                        Some((
                            "reply",
                            self.client
                                .reply(self.req(pb::ReplyRequest {
                                    id: a.id.clone(),
                                    text: self.officer.reply.clone(),
                                    attachments: Vec::new(),
                                }))
                                .await,
                        ))
                    }
                }
                _ => None,
            };
            match result {
                Some((action, Ok(after))) => {
                    let after = after.into_inner();
                    self.record(&a.id, action, after.state);
                    if action == "accept" {
                        self.accepted.insert(a.id.clone(), Instant::now());
                        self.bring_in(&a).await;
                    } else {
                        self.seen.remove(&a.id);
                        self.accepted.remove(&a.id);
                    }
                }
                Some((_, Err(status))) => {
                    self.record(&a.id, "error", format!("{:?}", status.code()));
                }
                None => {}
            }
        }
    }

    /// The co-handlers an accepted appeal's words call for (协办).
    async fn bring_in(&mut self, a: &pb::Appeal) {
        let wanted: Vec<String> = self
            .officer
            .co_handle
            .iter()
            .filter(|(word, dept)| {
                (a.title.contains(word.as_str()) || a.content.contains(word.as_str()))
                    && **dept != self.dept
            })
            .map(|(_, dept)| dept.clone())
            .collect();
        for dept in wanted {
            let done = self
                .client
                .add_co_handler(self.req(pb::AddCoHandlerRequest {
                    id: a.id.clone(),
                    dept: dept.clone(),
                    note: "请协助核实".into(),
                }))
                .await;
            match done {
                Ok(_) => self.record(&a.id, "cohandler", dept),
                Err(status) => self.record(&a.id, "error", format!("{:?}", status.code())),
            }
        }
    }

    /// Gives its part once on each open appeal it co-handles.
    async fn assist(&mut self) {
        let list = self
            .client
            .list(self.req(pb::ListRequest {
                limit: 1000,
                cohandled: true,
                ..pb::ListRequest::default()
            }))
            .await;
        let Ok(list) = list else { return };
        for a in list.into_inner().appeals {
            if self.assisted.contains(&a.id) {
                continue;
            }
            let done = self
                .client
                .assist(self.req(pb::AssistRequest {
                    id: a.id.clone(),
                    note: format!("{}协办意见：经核实，情况属实，已配合处理。", self.dept),
                }))
                .await;
            match done {
                Ok(_) => {
                    self.assisted.insert(a.id.clone());
                    self.record(&a.id, "assist", a.dept.clone());
                }
                Err(status) => self.record(&a.id, "error", format!("{:?}", status.code())),
            }
        }
    }
}
