//! Two nodes on one PostgreSQL, both with `[monitor] follow_audit`: one follows the
//! audit trail at a time (a lease in `meta`), so each record of interest is fed once;
//! when that node is killed, the other takes over from the shared position and nothing
//! is lost.
//!
//! Detection is the pipeline's labelled test double (`[monitor] detector =
//! "test-double"`): every refused API token (`auth.authenticate`, outcome failure) is an
//! event that raises or joins an alert, so the alerts' counts are the events fed.

use std::time::{Duration, Instant};
use webqx_testkit::server::{Http, Server, postgres_env};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

/// Events fed from our own `auth.authenticate` records, summed over the alerts.
async fn refused_fed(http: &Http) -> u64 {
    let r = http.get("/v1/alerts?limit=1000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["events"][0]["event"]["action"] == "auth.authenticate")
        .map(|a| a["count"].as_u64().unwrap_or(0))
        .sum()
}

/// Refuses `n` requests with a wrong token on `server`.
async fn refuse(server: &Server, n: usize) {
    let wrong = server.http();
    let wrong = wrong.with_token(Some("wrong"));
    for _ in 0..n {
        assert_eq!(wrong.get("/v1/keys").await.status, 401);
    }
}

/// Waits until `want` events are fed, then a while longer to see that no more come.
async fn expect_fed(http: &Http, want: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = refused_fed(http).await;
        if got >= want || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both followers poll every 100 ms: two seconds is twenty polls of a second feeder.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        refused_fed(http).await,
        want,
        "each record fed exactly once"
    );
}

/// `audit` events this node accepted into its pipeline (its health).
async fn accepted(server: &Server) -> u64 {
    let h = server.http().get("/v1/sys/health").await;
    h.json["monitor"]["accepted"]["audit"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_feed_each_trail_record_once_and_the_survivor_takes_over() {
    let Some(mut env) = postgres_env() else {
        eprintln!("WEBQX_TEST_POSTGRES unset: the two-node follower test needs PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("webqx-sec.toml");
    std::fs::write(
        &config,
        "[monitor]\ndetector = \"test-double\"\npoll_interval = \"100ms\"\nfollow_audit = true\n",
    )
    .unwrap();
    env.push(("WEBQX_CONFIG".into(), config.display().to_string()));
    let first = Server::start(BIN, &env);
    let second = first.second_node();
    let http = first.http();

    // Records written through both nodes land in the one trail; one node feeds them.
    refuse(&first, 3).await;
    refuse(&second, 3).await;
    expect_fed(&http, 6, Duration::from_secs(30)).await;
    let (a, b) = (accepted(&first).await, accepted(&second).await);
    assert!(
        (a == 0) != (b == 0),
        "exactly one node follows the trail: first accepted {a}, second {b}"
    );

    // The follower is killed; the survivor takes over once the lease runs out (15 s).
    let (survivor, mut gone) = if a > 0 {
        (second, first)
    } else {
        (first, second)
    };
    gone.kill9();
    refuse(&survivor, 2).await;
    expect_fed(&survivor.http(), 8, Duration::from_secs(45)).await;
    assert!(
        accepted(&survivor).await > 0,
        "the survivor follows now: {}",
        survivor.log()
    );
}
