//! The agent's HTTP side: /metrics, /findings and /report, /healthz. hyper on a tokio runtime
//! of its own thread: connections are tasks, not threads. Every answer is prepared by the main
//! loop, so a scrape never touches the kernel, and a stuck main loop shows in /healthz.
//!
//! Bounds, because anyone who can reach the port can send anything: request heads over
//! `MAX_HEAD` are refused (431) before more is read, a head must arrive within `HEAD_TIMEOUT`,
//! a connection lives at most `MAX_LIFETIME` (which also ends slow readers), and past
//! `--max-connections` the oldest idle connection is closed to make room.

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, watch};

use super::{auth::Auth, exposition, metrics, tls::Tls};
use crate::events::unix_now;

const MAX_HEAD: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_LIFETIME: Duration = Duration::from_secs(120);

/// The JSON documents served, replaced each interval; None until the first snapshot.
#[derive(Default)]
pub struct Documents {
    pub findings: Option<Bytes>,
    pub report: Option<Bytes>,
}

/// When the main loop last went round, for /healthz.
pub struct Health {
    last_tick_ms: AtomicU64,
    interval: Duration,
}

impl Health {
    pub fn new(interval: Duration) -> Health {
        let h = Health {
            last_tick_ms: AtomicU64::new(0),
            interval,
        };
        h.tick();
        h
    }

    pub fn tick(&self) {
        self.last_tick_ms
            .store((unix_now() * 1000.0) as u64, Ordering::Relaxed);
    }

    fn age(&self) -> Duration {
        let ms = (unix_now() * 1000.0) as u64;
        Duration::from_millis(ms.saturating_sub(self.last_tick_ms.load(Ordering::Relaxed)))
    }
}

pub struct Options {
    pub addr: SocketAddr,
    pub auth: Option<Arc<Auth>>,
    pub max_connections: usize,
    pub tls: Option<Tls>,
}

struct State {
    registry: Registry,
    docs: Arc<Mutex<Documents>>,
    health: Arc<Health>,
    auth: Option<Arc<Auth>>,
    max_connections: usize,
    tls: Option<Tls>,
    conns: Mutex<VecDeque<Conn>>,
    next_id: AtomicU64,
}

/// One open connection, as the cap sees it.
struct Conn {
    id: u64,
    busy: Arc<AtomicBool>,
    close: Arc<Notify>,
}

pub struct Http {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Http {
    /// Binds at once (a port in use fails here), then serves from a thread of its own.
    pub fn start(
        opts: Options,
        registry: Registry,
        docs: Arc<Mutex<Documents>>,
        health: Arc<Health>,
    ) -> Result<Http> {
        let listener = std::net::TcpListener::bind(opts.addr)
            .with_context(|| format!("cannot listen on {}", opts.addr))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = Arc::new(State {
            registry,
            docs,
            health,
            auth: opts.auth,
            max_connections: opts.max_connections.max(1),
            tls: opts.tls,
            conns: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
        });
        let (shutdown, stop) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => accept_loop(l, state, stop).await,
                        Err(e) => crate::say!("ctrace: http: {e}"),
                    }
                });
            })?;
        Ok(Http {
            addr,
            shutdown,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                // Out of fds and the like: wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let conn = Conn {
            id: state.next_id.fetch_add(1, Ordering::Relaxed),
            busy: Arc::new(AtomicBool::new(false)),
            close: Arc::new(Notify::new()),
        };
        let (id, busy, close) = (conn.id, Arc::clone(&conn.busy), Arc::clone(&conn.close));
        if let Ok(mut conns) = state.conns.lock() {
            if conns.len() >= state.max_connections {
                // The oldest idle one goes first; if every one is busy, the oldest.
                let victim = conns
                    .iter()
                    .position(|c| !c.busy.load(Ordering::Relaxed))
                    .unwrap_or(0);
                if let Some(v) = conns.remove(victim) {
                    v.close.notify_one();
                }
            }
            conns.push_back(conn);
        }
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            match &state.tls {
                None => serve_connection(stream, &state, busy, close).await,
                Some(tls) => {
                    // The handshake is bounded like a request head; a client without an
                    // accepted certificate (mutual TLS) ends here, before any HTTP.
                    let accepted =
                        tokio::time::timeout(HEAD_TIMEOUT, tls.acceptor.accept(stream)).await;
                    if let Ok(Ok(s)) = accepted {
                        serve_connection(s, &state, busy, close).await;
                    }
                }
            }
            if let Ok(mut conns) = state.conns.lock() {
                conns.retain(|c| c.id != id);
            }
        });
    }
}

async fn serve_connection<S>(
    stream: S,
    state: &Arc<State>,
    busy: Arc<AtomicBool>,
    close: Arc<Notify>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let st = Arc::clone(state);
    let service = service_fn(move |req| {
        let (st, busy) = (Arc::clone(&st), Arc::clone(&busy));
        async move {
            busy.store(true, Ordering::Relaxed);
            let resp = answer(&st, &req);
            busy.store(false, Ordering::Relaxed);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = close.notified() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
        }
        _ = tokio::time::sleep(MAX_LIFETIME) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
        }
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn answer(st: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path();
    if path == "/healthz" {
        // Unauthenticated, for liveness probes; it tells nothing about the node.
        let age = st.health.age();
        let limit = st.health.interval * 3 + Duration::from_secs(1);
        let body = format!("last tick {:.1} s ago\n", age.as_secs_f64());
        return if age <= limit {
            text(StatusCode::OK, format!("ok: {body}"))
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, format!("stalled: {body}"))
        };
    }
    if let Some(auth) = &st.auth {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !auth.allows(given) {
            let mut r = text(StatusCode::UNAUTHORIZED, "a bearer token is needed\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return r;
        }
    }
    let doc = |pick: fn(&Documents) -> &Option<Bytes>| {
        let body = st.docs.lock().ok().and_then(|d| pick(&d).clone());
        match body {
            Some(b) => json(b),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "starting: no snapshot yet\n",
            ),
        }
    };
    match path {
        "/metrics" => {
            if st.docs.lock().map(|d| d.report.is_none()).unwrap_or(true) {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "starting: no snapshot yet\n",
                );
            }
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let om = metrics::encode(&st.registry);
            let (body, kind) = if exposition::wants_openmetrics(accept) {
                (om, exposition::OPENMETRICS)
            } else {
                (exposition::to_text_004(&om), exposition::TEXT_004)
            };
            let mut r = text(StatusCode::OK, body);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
            r
        }
        "/findings" => doc(|d| &d.findings),
        "/report" => doc(|d| &d.report),
        "/" => text(
            StatusCode::OK,
            "ctrace serve: /metrics /findings /report /healthz\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn json(body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}
