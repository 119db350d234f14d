//! The server's load balancers: one [`ferry_lb::Backend`] per target group
//! (the built-in proxy, in a `ferry proxy` process when the server runs with
//! `--proxy-socket`, else listening in this process; or an HAProxy
//! backend), kept matching the members the store says each group should have.
//!
//! Only the store's own members are ever applied, and only after the store
//! answered: a server that starts applies exactly what it persisted last,
//! which is what the load balancer already has, so a restart changes nothing
//! there (a `ferry proxy` or an HAProxy keeps serving throughout).
//!
//! A member change is one step under the target group's lock: read the
//! group, change the member, persist it, apply it to the load balancer. A
//! reconcile loop applies every group again every few seconds, so an HAProxy
//! that restarted (and forgot its runtime changes) is repaired, and a server
//! that restarted serves its members again before any deployment resumes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::resources::{Balancer, MemberState, TargetGroup, TargetMember};
use ferry_lb::{AdminState, Backend, LbError, MemberStatus};
use ferry_store::{Store, StoreError};

/// How often every target group is applied again.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);

pub struct Traffic {
    store: Store,
    /// The control socket of the `ferry proxy` that serves built-in groups
    /// (`None`: they are served in this process, and stop with it).
    proxy_socket: Option<PathBuf>,
    balancers: Mutex<HashMap<String, Backend>>,
    /// One lock per target group: member changes take turns.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("target group {0} does not exist")]
    NoSuchGroup(String),
    #[error("{0}")]
    Balancer(#[from] LbError),
    #[error("state store: {0}")]
    Store(#[from] StoreError),
}

pub fn health_check(tg: &TargetGroup) -> ferry_lb::HealthCheck {
    let h = &tg.health_check;
    ferry_lb::HealthCheck {
        path: h.path.clone(),
        interval: Duration::from_millis(h.interval_ms),
        timeout: Duration::from_millis(h.timeout_ms),
        healthy_threshold: h.healthy_threshold,
        unhealthy_threshold: h.unhealthy_threshold,
    }
}

/// The load balancer's view of the wanted members (removed ones left out).
fn lb_members(tg: &TargetGroup) -> Vec<ferry_lb::Member> {
    tg.members
        .iter()
        .filter_map(|m| {
            let state = match m.state {
                MemberState::Ready => AdminState::Ready,
                MemberState::Draining => AdminState::Drain,
                MemberState::Removed => return None,
            };
            let addr: SocketAddr = m.address.parse().ok()?;
            Some(ferry_lb::Member { name: m.instance.clone(), addr, weight: m.weight, state, test: m.test })
        })
        .collect()
}

impl Traffic {
    pub fn new(store: Store, proxy_socket: Option<PathBuf>) -> Self {
        Self { store, proxy_socket, balancers: Mutex::default(), locks: Mutex::default() }
    }

    /// Sets up the load balancer of a target group (binding the built-in
    /// proxy's listeners, here or in the `ferry proxy`) and applies its members.
    pub async fn open(&self, tg: &TargetGroup) -> Result<(), TrafficError> {
        let backend = match &tg.balancer {
            Balancer::Builtin { listen, test_listen } => {
                let addr: SocketAddr = listen
                    .parse()
                    .map_err(|_| LbError::Invalid(format!("listen address {listen:?} is not ip:port")))?;
                let test_addr: Option<SocketAddr> = match test_listen {
                    Some(test) => Some(
                        test.parse()
                            .map_err(|_| LbError::Invalid(format!("test listen address {test:?} is not ip:port")))?,
                    ),
                    None => None,
                };
                match &self.proxy_socket {
                    // The proxy process binds them when it is given the members.
                    Some(socket) => Backend::Remote(ferry_lb::control::RemoteProxy {
                        socket: socket.clone(),
                        group: tg.name.clone(),
                        listen: addr,
                        test_listen: test_addr,
                        check: health_check(tg),
                    }),
                    None => {
                        let proxy = ferry_lb::proxy::Proxy::new(health_check(tg));
                        proxy.listen(addr, false).await?;
                        if let Some(test) = test_addr
                            && let Err(e) = proxy.listen(test, true).await
                        {
                            proxy.close();
                            return Err(e.into());
                        }
                        Backend::Builtin(proxy)
                    }
                }
            }
            Balancer::HaProxy { socket, backend } => Backend::HaProxy(ferry_lb::haproxy::HaProxy {
                socket: ferry_lb::haproxy::Socket::parse(socket)?,
                backend: backend.clone(),
                check: health_check(tg),
            }),
        };
        if let Backend::Builtin(proxy) = &backend {
            if let Err(e) = backend.apply(&lb_members(tg)).await {
                proxy.close();
                return Err(e.into());
            }
            self.balancers.lock().unwrap().insert(tg.name.clone(), backend);
            return Ok(());
        }
        // Kept even when unreachable now: views then say why, and the
        // reconcile loop applies the group again.
        self.balancers.lock().unwrap().insert(tg.name.clone(), backend.clone());
        backend.apply(&lb_members(tg)).await?;
        Ok(())
    }

    /// Opens every stored target group; one that cannot be opened is logged
    /// (the reconcile loop tries again) rather than stopping the server.
    pub async fn open_all(&self) -> Result<(), TrafficError> {
        for tg in self.store.list_target_groups().await? {
            if let Err(e) = self.open(&tg).await {
                tracing::error!(target_group = %tg.name, error = %e, "cannot open the target group's load balancer");
            }
        }
        Ok(())
    }

    /// Stops serving a target group that is being deleted. A `ferry proxy`
    /// that cannot be told is an error: its listener would keep running.
    pub async fn close(&self, name: &str) -> Result<(), TrafficError> {
        let backend = self.balancers.lock().unwrap().remove(name);
        match backend {
            Some(Backend::Builtin(proxy)) => proxy.close(),
            Some(Backend::Remote(remote)) => {
                if let Err(e) = remote.remove().await {
                    self.balancers.lock().unwrap().insert(name.to_string(), Backend::Remote(remote));
                    return Err(e.into());
                }
            }
            Some(Backend::HaProxy(_)) | None => {}
        }
        Ok(())
    }

    fn backend(&self, name: &str) -> Option<Backend> {
        self.balancers.lock().unwrap().get(name).cloned()
    }

    fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().unwrap().entry(name.to_string()).or_default().clone()
    }

    /// Changes one member of a target group: persisted, then applied.
    /// Returns the group as it now is.
    pub async fn update_member(
        &self,
        group: &str,
        change: impl FnOnce(&mut TargetGroup),
    ) -> Result<TargetGroup, TrafficError> {
        let lock = self.lock(group);
        let _guard = lock.lock().await;
        let mut tg = match self.store.get_target_group(group).await {
            Ok(tg) => tg,
            Err(StoreError::NotFound) => return Err(TrafficError::NoSuchGroup(group.to_string())),
            Err(e) => return Err(e.into()),
        };
        change(&mut tg);
        self.store.update_target_group(&tg).await?;
        if let Some(backend) = self.backend(group) {
            backend.apply(&lb_members(&tg)).await?;
        }
        Ok(tg)
    }

    /// The load balancer's view of the group's members.
    pub async fn status(&self, group: &str) -> Result<Vec<MemberStatus>, TrafficError> {
        let backend = self.backend(group).ok_or_else(|| TrafficError::NoSuchGroup(group.to_string()))?;
        Ok(backend.status().await?)
    }

    /// The member of `instance`, as the load balancer has it.
    pub async fn member_status(&self, group: &str, instance: &str) -> Result<Option<MemberStatus>, TrafficError> {
        Ok(self.status(group).await?.into_iter().find(|m| m.name == instance))
    }

    /// Every few seconds: open groups not open yet, apply every group again.
    pub async fn reconcile_forever(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(RECONCILE_EVERY);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let groups = match self.store.list_target_groups().await {
                Ok(groups) => groups,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list target groups");
                    continue;
                }
            };
            for tg in groups {
                let lock = self.lock(&tg.name);
                let _guard = lock.lock().await;
                let result = match self.backend(&tg.name) {
                    Some(backend) => backend.apply(&lb_members(&tg)).await.map_err(TrafficError::from),
                    None => self.open(&tg).await,
                };
                if let Err(e) = result {
                    tracing::warn!(target_group = %tg.name, error = %e, "cannot apply the target group to its load balancer");
                }
            }
        }
    }
}

/// A member of `tg` for an instance at `ip`, in `state`, with `weight`.
pub fn member(tg: &TargetGroup, instance: &str, ip: &str, state: MemberState, weight: u32) -> TargetMember {
    let address = if ip.contains(':') { format!("[{ip}]:{}", tg.port) } else { format!("{ip}:{}", tg.port) };
    TargetMember { instance: instance.to_string(), address, weight, state, test: false }
}
