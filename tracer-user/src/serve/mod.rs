//! `ctrace serve`: the long-lived agent. It traces continuously with bounded state, serves
//! Prometheus metrics and the current findings over HTTP, and streams new findings as NDJSON.
//! SIGTERM drains, detaches and exits 0; a restart finds its state again through the start-up
//! inventories (semaphore sets, zombies) that `trace` also takes.

mod auth;
mod bounds;
mod exposition;
mod http;
mod metrics;
mod ndjson;
mod quick;
mod tls;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use serde_json::json;

use crate::{
    cli::ServeArgs,
    events::unix_now,
    report::Report,
    shared::{
        Caps, Seen,
        series::{Ctr, Touched},
    },
    trace::{Session, TICK, stop_flag, ticker, until},
};
use bounds::Bounds;
use http::{Documents, Health, Http};
use metrics::Snapshot;

/// How long /report keeps a finding after it last held (at most --max-records of them).
const RESOLVED_KEEP_S: f64 = 3600.0;

/// Why the loop went round.
enum Woke {
    /// Records were queued.
    Data,
    /// Time-based work.
    Tick,
    /// The interval: a full report, /metrics, /findings and the stream.
    Publish,
    /// Records' findings onto the NDJSON stream.
    Quick,
}

pub fn run(args: ServeArgs, verbose: u8) -> Result<()> {
    let t = &args.trace;
    if t.json {
        bail!("serve streams findings as NDJSON (see --findings-out); --json is for `trace`");
    }
    let caps = Caps {
        containers: args.max_containers,
        processes: args.max_processes,
        records: args.max_records,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::Tls::load(cert, key, args.tls_client_ca.as_deref())?),
        _ => None,
    };
    let mutual = tls.as_ref().is_some_and(|t| t.mutual);
    // A root agent that tells file paths, process and container names: on the network only
    // with a token or client certificates, or when the user says in so many words that nobody
    // needs either. TLS without client certificates hides the traffic but lets anyone in.
    let auth = match &args.auth_token_file {
        Some(f) => Some(Arc::new(auth::Auth::from_file(f.clone())?)),
        None if !args.listen.ip().is_loopback() && !mutual && !args.allow_unauthenticated => {
            return Err(crate::out::Usage(format!(
                "--listen {} is reachable from other hosts: give --auth-token-file FILE, or --tls-client-ca FILE (with --tls-cert and --tls-key) for client certificates, or --allow-unauthenticated to serve everyone",
                args.listen
            ))
            .into());
        }
        None => None,
    };
    crate::node::require_root()?;
    let mut stream = ndjson::Stream::open(&args.findings_out)?;
    // Listening first: a port in use fails before anything is loaded into the kernel.
    let shared = Arc::new(Mutex::new(Snapshot::default()));
    let docs = Arc::new(Mutex::new(Documents::default()));
    let health = Arc::new(Health::new(t.interval));
    let http = Http::start(
        http::Options {
            addr: args.listen,
            auth: auth.clone(),
            max_connections: args.max_connections,
            tls,
        },
        metrics::registry(Arc::clone(&shared)),
        Arc::clone(&docs),
        Arc::clone(&health),
    )?;
    let mut session = Session::open(t, verbose)?;
    // Before the "attached" line: whoever waits for it may signal at once.
    let stop = stop_flag()?;
    crate::say!(
        "ctrace: serving {}://{}/metrics and /findings; attached {}",
        if args.tls_cert.is_some() {
            "https"
        } else {
            "http"
        },
        http.addr(),
        session.attached()
    );
    let mut agent = Agent {
        touched: Touched::default(),
        bounds: Bounds::default(),
        caps,
        top: t.top,
        seen: Seen::default(),
    };
    let started = session.started;
    let deadline = crate::trace::deadline(started, t.duration);
    let stage = crate::drain::stage();
    crate::trace::loop_rt()?.block_on(async {
        let mut tick = ticker(TICK);
        let mut publish = ticker(t.interval);
        // Findings streamed as their records arrive, at the pace `quick` allows; records that
        // arrive while a round waits go out in that round.
        let mut quick_at: Option<tokio::time::Instant> = None;
        let mut budget = quick::QuickBudget::new(Instant::now());
        while !stop.load(Ordering::Relaxed) {
            let woke = tokio::select! {
                _ = stage.wake.notified() => Woke::Data,
                _ = tick.tick() => Woke::Tick,
                _ = publish.tick() => Woke::Publish,
                _ = until(quick_at) => Woke::Quick,
                _ = until(deadline) => break,
            };
            hold_for_tests();
            health.tick();
            session.tick(Instant::now())?;
            match woke {
                Woke::Publish => {
                    // A token file changed or gone is logged within an interval, not only at
                    // the next request.
                    if let Some(a) = &auth {
                        a.check();
                    }
                    // Before the publish: records queued while it runs mark their problems
                    // again and are streamed at once, not an interval later.
                    stage.take_dirty();
                    session.refresh(false)?;
                    if log::log_enabled!(log::Level::Info) {
                        log::info!("{}", session.live());
                    }
                    agent.publish(&mut session, &shared, &docs, &mut stream)?;
                    quick_at = None;
                }
                Woke::Data if quick_at.is_none() => {
                    let at = budget.ready_at(Instant::now());
                    quick_at = Some(tokio::time::Instant::from_std(at));
                }
                Woke::Quick => {
                    quick_at = None;
                    budget.take(Instant::now());
                    let dirty = stage.take_dirty();
                    if !dirty.is_empty() {
                        let found = session.findings_of(&dirty, t.top)?;
                        stream.add(&found, unix_now());
                    }
                }
                _ => {}
            }
        }
        anyhow::Ok(())
    })?;
    // A last round, so that what happened since the previous interval is streamed too.
    agent.publish(&mut session, &shared, &docs, &mut stream)?;
    http.stop();
    let report = session.finish(t.top)?;
    let dropped: u64 = report.drops.values().sum();
    crate::say!(
        "ctrace: detached after {:.0}s; {} findings active, {dropped} events dropped, {} evictions",
        report.duration_s,
        report.findings.len(),
        agent.bounds.evictions.values().sum::<u64>()
    );
    Ok(())
}

struct Agent {
    /// When each container's series last grew: the container cap evicts the stalest.
    touched: Touched,
    bounds: Bounds,
    caps: Caps,
    top: usize,
    /// Findings of earlier intervals: /report lists those resolved lately too.
    seen: Seen,
}

impl Agent {
    /// One interval: a report of now, each problem's counters grown from it, the caps
    /// enforced, and the results handed to the HTTP thread and the NDJSON stream.
    fn publish(
        &mut self,
        s: &mut Session,
        shared: &Mutex<Snapshot>,
        docs: &Mutex<Documents>,
        stream: &mut ndjson::Stream,
    ) -> Result<()> {
        let mut report = s.snapshot(self.top)?;
        let now = unix_now();
        self.touched.tick += 1;
        let touched = &mut self.touched;
        s.each_run(|run, _| run.absorb(touched, now));
        self.bounds.enforce(s, &mut self.touched, self.caps);
        stream.update(&report.findings, now);
        let mut snap = self.snapshot(s, &report);
        snap.stream_errors = stream.errors;
        if let Ok(mut m) = shared.lock() {
            *m = snap;
        }
        // Serialized before the lock: a scrape waiting on it would wait for the whole report.
        let findings = serde_json::to_string_pretty(&json!({
            "updated": now,
            "uptime_s": report.duration_s,
            "findings": report.findings,
        }))?;
        // /report as `trace` reports its window: those resolved within the last while too, with
        // first and last seen (/findings and the metrics stay what holds now).
        report.keep_window(&mut self.seen);
        self.seen
            .forget_resolved(RESOLVED_KEEP_S, self.caps.records);
        let whole = report.to_json();
        if let Ok(mut d) = docs.lock() {
            d.findings = Some(findings.into());
            d.report = Some(whole.into());
        }
        // glibc keeps freed heap pages (per thread arena) for reuse; an agent that builds a
        // report each interval would otherwise keep its peak, not its need, resident.
        unsafe { libc::malloc_trim(0) };
        Ok(())
    }

    fn snapshot(&self, s: &Session, report: &Report) -> Snapshot {
        let mut families = Vec::new();
        for (e, run) in s.runs() {
            if let Some(section) = report.section(e.name()) {
                families.extend(run.metrics(section));
            }
        }
        let mut snap = Snapshot {
            families,
            events: report.events.iter().map(|(p, n)| (p.clone(), *n)).collect(),
            evictions: self
                .bounds
                .evictions
                .iter()
                .map(|(w, n)| (*w, *n))
                .collect(),
            tracked: Bounds::tracked(s, &self.touched),
            probes: report
                .probes
                .iter()
                .map(|p| (p.problem.clone(), p.attach_type.clone()))
                .collect(),
            bpf: report.bpf.clone().unwrap_or_default(),
            ..Default::default()
        };
        snap.drops = s
            .drops()
            .into_iter()
            .map(|(d, n)| (d.problem().to_string(), d.name().to_string(), n))
            .collect();
        let mut f: BTreeMap<(String, String, Ctr), u64> = BTreeMap::new();
        for x in &report.findings {
            let c = Ctr::of_ids(
                &x.subject.container_id,
                &x.subject.container_name,
                &x.subject.origin,
            );
            *f.entry((x.kind.to_string(), x.severity.name().to_string(), c))
                .or_default() += 1;
        }
        snap.findings = f.into_iter().map(|((k, s, c), n)| (k, s, c, n)).collect();
        snap
    }
}

/// Test-only: while the file named by CTRACE_TEST_HOLD_LOOP exists, the main loop stands still,
/// as a loop stuck on a slow call would (the /healthz test).
fn hold_for_tests() {
    let Some(path) = std::env::var_os("CTRACE_TEST_HOLD_LOOP") else {
        return;
    };
    while std::path::Path::new(&path).exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
}
