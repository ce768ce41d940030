//! HTTP hygiene: a server that redirects, answers without end, trickles, or sends a change
//! feed that never moves on cannot hold the client, and changes nothing on the device.

use krypt7_hostile::Forged;

use super::*;

/// Alice's devices, with an item changed on `a` so that `b`'s next feed has it: the
/// server, the proxy, device `b` and the item.
async fn changed_on_a() -> (Server, Proxy, Client, Uuid) {
    let (server, p) = start().await;
    let Alice {
        mut a,
        b,
        items: [x, _, _],
        ..
    } = alice(&p).await;
    change(&mut a, x, "bank-secret-2").await;
    (server, p, b, x)
}

/// Once the server is honest again, `b` syncs and gets the change.
async fn honest_again(p: &Proxy, b: &mut Client, x: Uuid) {
    p.honest();
    b.sync().await.unwrap();
    assert_eq!(b.item(x).unwrap().data.fields["password"], "bank-secret-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_never_followed() {
    let (_server, p, mut b, x) = changed_on_a().await;
    let elsewhere = format!("{}/followed", p.url);
    for status in [301, 302, 307, 308] {
        let to = elsewhere.clone();
        p.tamper(move |s, r| {
            if is_feed(s) {
                r.status = status;
                r.headers.push(("location".into(), to.clone()));
            }
        });
        refused(&mut b, &format!("HTTP {status}"), "redirect").await;
    }
    assert!(
        p.seen().iter().all(|s| !s.path.starts_with("/followed")),
        "a redirect was followed"
    );
    honest_again(&p, &mut b, x).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_feed_that_does_not_move_on_is_an_integrity_error() {
    let (_server, p, mut b, x) = changed_on_a().await;
    // "There is more", with the cursor left where the device asked from.
    p.clear();
    p.tamper(|s, r| {
        if is_feed(s) && r.status == 200 {
            let since: i64 = s
                .path
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("since="))
                .and_then(|v| v.parse().ok())
                .unwrap();
            let mut v = r.json();
            v["has_more"] = json!(true);
            v["cursor"] = json!(since);
            r.set_json(&v);
        }
    });
    refused(&mut b, "static cursor", "does not move on").await;
    let asked = p.seen().iter().filter(|s| is_feed(s)).count();
    assert_eq!(asked, 1, "the device kept asking a feed that does not move");
    // "There is more", and an empty page that moves the cursor on.
    tamper_feed(&p, |feed| {
        feed["has_more"] = json!(true);
        feed["items"] = json!([]);
        feed["cursor"] = json!(feed["cursor"].as_i64().unwrap() + 1);
    });
    refused(&mut b, "empty pages", "does not move on").await;
    honest_again(&p, &mut b, x).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_end_is_cut_at_its_cap() {
    let (_server, p, mut b, x) = changed_on_a().await;
    p.clear();
    // A 2 GiB JSON feed page, streamed without a length.
    p.forge_stream(
        is_feed,
        Forged::Huge {
            head: br#"{"cursor":1,"has_more":false,"vaults":[],"manifests":[],"items":["#.to_vec(),
            fill: br#"{"pad":"0123456789abcdef0123456789abcdef"},"#.to_vec(),
            len: 2 << 30,
        },
    );
    refused(&mut b, "a 2 GiB answer", "over").await;
    // Asked again in smaller pages (500, 62, 7, 1 items), then refused: each read stops at
    // the 32 MiB cap (plus what the transport had buffered).
    let asked = p.seen().iter().filter(|s| is_feed(s)).count() as u64;
    assert_eq!(asked, 4);
    let most = asked * (40 << 20);
    assert!(p.streamed() < most, "{} bytes pulled", p.streamed());
    honest_again(&p, &mut b, x).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_answer_times_out() {
    let (_server, p, mut b, x) = changed_on_a().await;
    let (before, cursor) = (snapshot(&b), b.cursor().unwrap());
    // One byte a second, without end: the call's time limit ends it.
    p.forge_stream(
        is_feed,
        Forged::Trickle {
            head: b"{".to_vec(),
            fill: b' ',
        },
    );
    let err = b.sync().await.unwrap_err();
    assert_eq!(err.code(), "offline", "{err}");
    assert_eq!(snapshot(&b), before);
    assert_eq!(b.cursor().unwrap(), cursor);
    honest_again(&p, &mut b, x).await;
}
