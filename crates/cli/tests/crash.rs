//! kill -9 in the middle of a stream of rotations, key creations and encryptions: after
//! a restart every acknowledged operation is there and the audit chain verifies.

use base64::Engine as _;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webqx_testkit::server::{Http, Server, postgres_env};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

#[derive(Default)]
struct Acked {
    ciphertexts: Vec<(String, String)>,
    rotations: u64,
    keys: Vec<String>,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn hammer(h: Http, acked: Arc<Mutex<Acked>>, worker: usize) {
    for i in 0.. {
        let text = format!("worker {worker} item {i}");
        let r = h
            .try_post("/v1/keys/crash/encrypt", json!({"plaintext": b64(&text)}))
            .await;
        match r {
            Some(r) if r.status == 200 => {
                let ct = r.json["ciphertext"].as_str().unwrap().to_owned();
                acked.lock().unwrap().ciphertexts.push((ct, text));
            }
            _ => return,
        }
    }
}

async fn rotate(h: Http, acked: Arc<Mutex<Acked>>) {
    for i in 0.. {
        match h.try_post("/v1/keys/crash/rotate", json!({})).await {
            Some(r) if r.status == 200 => {
                let v = r.json["latest_version"].as_u64().unwrap();
                let mut a = acked.lock().unwrap();
                a.rotations = a.rotations.max(v);
            }
            _ => return,
        }
        let name = format!("k-{i}");
        match h.try_post("/v1/keys", json!({"name": name})).await {
            Some(r) if r.status == 201 => acked.lock().unwrap().keys.push(name),
            _ => return,
        }
    }
}

async fn check(h: &Http, acked: &Acked, label: &str) {
    let info = h.get("/v1/keys/crash").await;
    assert!(
        info.json["latest_version"].as_u64().unwrap() >= acked.rotations,
        "{label}: a rotation was lost"
    );
    for name in &acked.keys {
        assert_eq!(
            h.get(&format!("/v1/keys/{name}")).await.status,
            200,
            "{label}: key {name} was lost"
        );
    }
    for chunk in acked.ciphertexts.chunks(500) {
        let items: Vec<_> = chunk
            .iter()
            .map(|(ct, _)| json!({"ciphertext": ct}))
            .collect();
        let r = h
            .post("/v1/keys/crash/decrypt", json!({"batch_input": items}))
            .await;
        for ((_, text), out) in chunk
            .iter()
            .zip(r.json["batch_results"].as_array().unwrap())
        {
            assert_eq!(out["plaintext"], b64(text), "{label}: {out}");
        }
    }
    let report = h.get("/v1/audit/verify").await;
    assert!(
        report.json["first_break"].is_null(),
        "{label}: {}",
        report.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let mut setups = vec![(Vec::new(), "sqlite")];
    if let Some(env) = postgres_env() {
        setups.push((env, "postgres"));
    }
    for (env, label) in setups {
        let mut server = Server::start(BIN, &env);
        server
            .http()
            .post("/v1/keys", json!({"name": "crash"}))
            .await;
        let acked = Arc::new(Mutex::new(Acked::default()));
        for round in 0..3 {
            let h = server.http();
            let mut tasks = Vec::new();
            for w in 0..6 {
                tasks.push(tokio::spawn(hammer(
                    h.clone(),
                    acked.clone(),
                    w + 10 * round,
                )));
            }
            tasks.push(tokio::spawn(rotate(h.clone(), acked.clone())));
            tokio::time::sleep(Duration::from_millis(1500)).await;
            server.kill9();
            for t in tasks {
                t.await.unwrap();
            }
            server.spawn();
            let snapshot = {
                let a = acked.lock().unwrap();
                assert!(
                    a.ciphertexts.len() > 50 * (round + 1),
                    "{label}: too little traffic to mean anything"
                );
                Acked {
                    ciphertexts: a.ciphertexts.clone(),
                    rotations: a.rotations,
                    keys: a.keys.clone(),
                }
            };
            check(&server.http(), &snapshot, &format!("{label} round {round}")).await;
        }
    }
}
