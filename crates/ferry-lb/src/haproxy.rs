//! HAProxy, driven through its runtime API (the `stats socket … level
//! admin`, a Unix socket or a TCP address).
//!
//! A target group is one HAProxy backend; its members are servers named
//! after them. [`HaProxy::apply`] adds missing servers (`add server … check`,
//! then `enable health`), moves changed ones (`set server … addr`), sets
//! weights and states (`set server … weight|state ready|drain|maint`) and
//! puts servers no longer wanted into maintenance and deletes them. A
//! server that becomes ready (new, or back from maintenance) is first set
//! `health down`, so that it counts as healthy only after passing `rise`
//! checks: HAProxy would otherwise assume, or keep, an "up" verdict. Health
//! comes from HAProxy's own checks (`show servers state`: the operational
//! state is RUNNING), in-flight work from `show stat` (current sessions).
//!
//! The backend must exist in HAProxy's configuration with an algorithm
//! that allows dynamic servers (roundrobin, leastconn, …) and the HTTP check
//! of the target group: [`backend_config`] writes it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{AdminState, Health, HealthCheck, LbError, Member, MemberStatus};

/// HAProxy's largest server weight.
pub const MAX_WEIGHT: u32 = 256;
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Where HAProxy's runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Socket {
    /// `unix:/path`, a path starting with `/`, or `host:port`.
    pub fn parse(text: &str) -> Result<Socket, LbError> {
        if let Some(path) = text.strip_prefix("unix:") {
            return Ok(Socket::Unix(PathBuf::from(path)));
        }
        if text.starts_with('/') {
            return Ok(Socket::Unix(PathBuf::from(text)));
        }
        text.parse()
            .map(Socket::Tcp)
            .map_err(|_| LbError::Invalid(format!("HAProxy runtime API {text:?} is not unix:/path, /path or ip:port")))
    }
}

/// One HAProxy backend.
#[derive(Debug, Clone)]
pub struct HaProxy {
    pub socket: Socket,
    pub backend: String,
    pub check: HealthCheck,
}

/// A server as `show servers state` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub name: String,
    pub addr: SocketAddr,
    /// 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op_state: u32,
    /// Bit field: 0x01 | 0x02 | 0x04 | 0x20 | 0x40 maintenance, 0x08 | 0x10 drain.
    pub admin_state: u32,
    pub weight: u32,
}

impl ServerState {
    pub fn state(&self) -> AdminState {
        if self.admin_state & (0x01 | 0x02 | 0x04 | 0x20 | 0x40) != 0 {
            AdminState::Maint
        } else if self.admin_state & (0x08 | 0x10) != 0 {
            AdminState::Drain
        } else {
            AdminState::Ready
        }
    }

    pub fn health(&self) -> Health {
        match self.op_state {
            2 => Health::Healthy,
            0 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }
}

impl HaProxy {
    /// Sends one command and returns HAProxy's answer.
    pub async fn command(&self, command: &str) -> Result<String, LbError> {
        let run = async {
            let line = format!("{command}\n");
            let mut answer = Vec::new();
            match &self.socket {
                Socket::Unix(path) => {
                    let mut stream = tokio::net::UnixStream::connect(path).await?;
                    stream.write_all(line.as_bytes()).await?;
                    stream.read_to_end(&mut answer).await?;
                }
                Socket::Tcp(addr) => {
                    let mut stream = tokio::net::TcpStream::connect(addr).await?;
                    stream.write_all(line.as_bytes()).await?;
                    stream.read_to_end(&mut answer).await?;
                }
            }
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
        };
        let answer = tokio::time::timeout(COMMAND_TIMEOUT, run)
            .await
            .map_err(|_| LbError::Backend(format!("HAProxy did not answer {command:?} within 5 s")))?
            .map_err(|e| LbError::Backend(format!("HAProxy runtime API {:?}: {e}", self.socket)))?;
        let trimmed = answer.trim();
        // Refusals come back as text on a successful connection.
        let refused = ["Unknown command", "No such", "Require ", "Permission denied", "Invalid ", "Can't ", "cannot "];
        if refused.iter().any(|r| trimmed.starts_with(r)) || trimmed.contains("[ALERT]") {
            return Err(LbError::Backend(format!("HAProxy refused {command:?}: {trimmed}")));
        }
        Ok(answer)
    }

    /// The backend's servers.
    pub async fn servers(&self) -> Result<Vec<ServerState>, LbError> {
        let answer = self.command(&format!("show servers state {}", self.backend)).await?;
        parse_servers_state(&answer)
    }

    /// Current sessions per server name (`show stat`).
    /// Per server of the backend: (sessions now, sessions in all).
    pub async fn sessions(&self) -> Result<HashMap<String, (u64, u64)>, LbError> {
        let answer = self.command("show stat").await?;
        Ok(parse_sessions(&answer, &self.backend))
    }

    pub async fn apply(&self, members: &[Member]) -> Result<(), LbError> {
        let current = self.servers().await?;
        let weights = scale_weights(members);
        for (m, weight) in members.iter().zip(weights) {
            let server = format!("{}/{}", self.backend, m.name);
            let existing = current.iter().find(|s| s.name == m.name);
            match existing {
                None => {
                    let c = &self.check;
                    self.command(&format!(
                        "add server {server} {} weight {weight} check inter {}ms rise {} fall {}",
                        addr_arg(m.addr),
                        c.interval.as_millis().max(100),
                        c.healthy_threshold.max(1),
                        c.unhealthy_threshold.max(1)
                    ))
                    .await?;
                    self.command(&format!("enable health {server}")).await?;
                }
                Some(s) if s.addr != m.addr => {
                    self.command(&format!("set server {server} addr {} port {}", m.addr.ip(), m.addr.port())).await?;
                }
                Some(_) => {}
            }
            let was = existing.map(ServerState::state);
            let weight_now = existing.map(|s| s.weight);
            if was != Some(m.state) && m.state == AdminState::Ready && was != Some(AdminState::Drain) {
                // A server that comes back (or is new) must pass its checks
                // before it counts as healthy: HAProxy would keep (or
                // assume) an "up" verdict, and treats a server leaving
                // maintenance as up. So it takes no traffic (weight 0)
                // while it is made ready and its health is set down.
                self.command(&format!("set server {server} weight 0")).await?;
                self.command(&format!("set server {server} state ready")).await?;
                self.command(&format!("set server {server} health down")).await?;
                self.command(&format!("set server {server} weight {weight}")).await?;
                continue;
            }
            if weight_now != Some(weight) {
                self.command(&format!("set server {server} weight {weight}")).await?;
            }
            if was != Some(m.state) {
                self.command(&format!("set server {server} state {}", m.state.as_str())).await?;
            }
        }
        for s in current.iter().filter(|s| !members.iter().any(|m| m.name == s.name)) {
            let server = format!("{}/{}", self.backend, s.name);
            if s.state() != AdminState::Maint {
                self.command(&format!("set server {server} state maint")).await?;
            }
            // Refused while connections remain; a later apply tries again.
            if let Err(e) = self.command(&format!("del server {server}")).await {
                tracing::debug!(server, error = %e, "server not deleted yet");
            }
        }
        Ok(())
    }

    pub async fn status(&self) -> Result<Vec<MemberStatus>, LbError> {
        let servers = self.servers().await?;
        let sessions = self.sessions().await?;
        Ok(servers
            .into_iter()
            .map(|s| MemberStatus {
                in_flight: sessions.get(&s.name).map_or(0, |c| c.0),
                requests: sessions.get(&s.name).map_or(0, |c| c.1),
                health: s.health(),
                state: s.state(),
                weight: s.weight,
                addr: s.addr,
                name: s.name,
            })
            .collect())
    }
}

fn addr_arg(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
    }
}

/// Weights within HAProxy's 0–256, in the same proportions.
fn scale_weights(members: &[Member]) -> Vec<u32> {
    let max = members.iter().map(|m| m.weight).max().unwrap_or(0);
    members
        .iter()
        .map(
            |m| {
                if max <= MAX_WEIGHT { m.weight } else { ((u64::from(m.weight) * 256).div_ceil(u64::from(max))) as u32 }
            },
        )
        .collect()
}

pub fn parse_servers_state(answer: &str) -> Result<Vec<ServerState>, LbError> {
    let mut lines = answer.lines().filter(|l| !l.trim().is_empty());
    let version = lines.next().unwrap_or("").trim();
    if version != "1" {
        return Err(LbError::Backend(format!("unexpected `show servers state` answer: {}", answer.trim())));
    }
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight … srv_port (index 18)
        if f.len() < 19 {
            continue;
        }
        let num = |i: usize| f[i].parse::<u32>().unwrap_or(0);
        let ip: IpAddr = match f[4].parse() {
            Ok(ip) => ip,
            Err(_) => continue,
        };
        let port: u16 = f[18].parse().unwrap_or(0);
        out.push(ServerState {
            name: f[3].to_string(),
            addr: SocketAddr::new(ip, port),
            op_state: num(5),
            admin_state: num(6),
            weight: num(7),
        });
    }
    Ok(out)
}

/// `show stat`'s current (`scur`) and total (`stot`) sessions of each server of `backend`.
pub fn parse_sessions(answer: &str, backend: &str) -> HashMap<String, (u64, u64)> {
    let mut lines = answer.lines();
    let Some(header) = lines.next() else { return HashMap::new() };
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let at = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(scur)) = (at("pxname"), at("svname"), at("scur")) else { return HashMap::new() };
    let stot = at("stot");
    let number = |f: &[&str], i: Option<usize>| i.and_then(|i| f.get(i)).and_then(|v| v.parse().ok()).unwrap_or(0);
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > scur && f[px] == backend && f[sv] != "BACKEND" && f[sv] != "FRONTEND")
        .map(|f| (f[sv].to_string(), (number(&f, Some(scur)), number(&f, stot))))
        .collect()
}

/// The HAProxy backend section for a target group: dynamic servers are
/// added to it at run time.
pub fn backend_config(backend: &str, check: &HealthCheck) -> String {
    format!(
        "backend {backend}\n    balance roundrobin\n    option httpchk GET {}\n    http-check expect rstatus ^[23]\n    timeout check {}ms\n",
        check.path,
        check.timeout.as_millis().max(100)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_servers_state() {
        let answer = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n3 app 1 web1 10.77.0.11 2 8 90 90 12 6 3 4 6 0 0 0 - 8080 - 0 0 - - 0\n3 app 2 web2 10.77.0.12 0 1 10 10 3 7 2 0 6 0 0 0 - 8080 - 0 0 - - 0\n";
        let servers = parse_servers_state(answer).unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].addr, "10.77.0.11:8080".parse().unwrap());
        assert_eq!(
            (servers[0].state(), servers[0].health(), servers[0].weight),
            (AdminState::Drain, Health::Healthy, 90)
        );
        assert_eq!((servers[1].state(), servers[1].health()), (AdminState::Maint, Health::Unhealthy));
        assert!(parse_servers_state("Can't find backend.\n").is_err());
    }

    #[test]
    fn parses_sessions_of_one_backend() {
        let answer = "# pxname,svname,qcur,qmax,scur,smax,slim,stot\napp,FRONTEND,,,3,9,,40\napp,web1,0,0,2,5,,31\napp,web2,0,0,0,1,,9\nother,web1,0,0,7,7,,70\napp,BACKEND,0,0,2,5,,40\n";
        let s = parse_sessions(answer, "app");
        assert_eq!(s.len(), 2);
        assert_eq!(s["web1"], (2, 31));
        assert_eq!(s["web2"], (0, 9));
    }

    #[test]
    fn weights_fit_haproxys_range() {
        let m = |w| Member {
            name: format!("m{w}"),
            addr: "127.0.0.1:1".parse().unwrap(),
            weight: w,
            state: AdminState::Ready,
            test: false,
        };
        assert_eq!(scale_weights(&[m(90), m(10)]), vec![90, 10]);
        assert_eq!(scale_weights(&[m(1000), m(10)]), vec![256, 3]);
        assert_eq!(scale_weights(&[m(0)]), vec![0]);
    }

    #[test]
    fn sockets_parse() {
        assert_eq!(Socket::parse("/run/haproxy.sock").unwrap(), Socket::Unix("/run/haproxy.sock".into()));
        assert_eq!(Socket::parse("unix:/x").unwrap(), Socket::Unix("/x".into()));
        assert_eq!(Socket::parse("127.0.0.1:9999").unwrap(), Socket::Tcp("127.0.0.1:9999".parse().unwrap()));
        assert!(Socket::parse("nowhere").is_err());
    }
}
