//! Mail between two users, each on two devices, against a real server: To, Cc and Bcc each
//! get it once and Bcc is in no other copy; every device of each recipient files it; the
//! Sent copy reaches the sender's other device; a message composed offline goes out once at
//! the next sync; a reply threads; the mailbox stays out of the vault's item lists.

use krypt7_client::{
    Client,
    mail::{Draft, INBOX, QUARANTINE, SENT},
};

use crate::Server;

async fn account(server: &Server, name: &str) -> (Client, Client, Vec<tempfile::TempDir>) {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = server.device(&d1);
    let sk = a
        .signup(name, "correct horse battery", None, None)
        .await
        .unwrap();
    let mut b = server.device(&d2);
    b.login(name, "correct horse battery", &sk, None)
        .await
        .unwrap();
    (a, b, vec![d1, d2])
}

fn draft(to: &[&str], cc: &[&str], bcc: &[&str], subject: &str, text: &str) -> Draft {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
    Draft {
        to: v(to),
        cc: v(cc),
        bcc: v(bcc),
        subject: subject.into(),
        text: text.into(),
        in_reply_to: None,
        attachments: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_between_users_on_several_devices() {
    let mut server = Server::start().await;
    let (mut alice, mut alice2, _da) = account(&server, "alice").await;
    let (mut bob, mut bob2, _db) = account(&server, "bob").await;
    let (mut carol, _carol2, _dc) = account(&server, "carol").await;
    let (mut dave, _dave2, _dd) = account(&server, "dave").await;

    let id = alice
        .send_mail(&draft(
            &["bob@localhost"],
            &["carol"],
            &["dave"],
            "Dinner on Friday",
            "Bring the wine.\n",
        ))
        .await
        .unwrap();
    let sent = alice.mailbox(Some(SENT)).unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].id, sent[0].status.as_str()), (id, "sent"));
    assert_eq!(
        sent[0].bcc,
        vec!["dave@localhost"],
        "the sender's copy keeps Bcc"
    );
    alice.sync().await.unwrap();

    // Every device of each recipient files it once, verified by the pinned key.
    for (who, dev) in [
        ("bob", &mut bob),
        ("bob2", &mut bob2),
        ("carol", &mut carol),
        ("dave", &mut dave),
    ] {
        dev.sync().await.unwrap();
        let inbox = dev.mailbox(Some(INBOX)).unwrap();
        assert_eq!(inbox.len(), 1, "{who}: {inbox:?}");
        let m = dev.read_mail(inbox[0].id).unwrap();
        assert_eq!(m.view.from, "alice@localhost", "{who}");
        assert_eq!(m.view.subject, "Dinner on Friday", "{who}");
        assert_eq!(m.view.signature, "pinned", "{who}");
        assert_eq!(m.text.trim_end(), "Bring the wine.", "{who}");
        assert_eq!(m.view.to, vec!["bob@localhost"], "{who}");
        assert_eq!(m.view.cc, vec!["carol@localhost"], "{who}");
        assert!(
            m.view.bcc.is_empty(),
            "{who}: Bcc shows in no recipient's copy"
        );
        assert!(
            !m.raw.to_ascii_lowercase().contains("dave"),
            "{who}: the message itself names no Bcc recipient"
        );
        // The mailbox stays out of the vault's items.
        assert!(dev.items().unwrap().is_empty(), "{who}");
    }
    // Bob's two devices filed the same message under the same id; a second sync adds none.
    bob.sync().await.unwrap();
    bob2.sync().await.unwrap();
    assert_eq!(bob.mailbox(None).unwrap().len(), 1);
    assert_eq!(
        bob.mailbox(None).unwrap()[0].id,
        bob2.mailbox(None).unwrap()[0].id
    );
    // The Sent copy is on the sender's other device.
    alice2.sync().await.unwrap();
    let sent2 = alice2.mailbox(Some(SENT)).unwrap();
    assert_eq!((sent2.len(), sent2[0].id), (1, id));

    // A reply threads with the message it answers.
    let first = bob.mailbox(Some(INBOX)).unwrap()[0].clone();
    let mut reply = draft(
        &["alice"],
        &[],
        &[],
        "Re: Dinner on Friday",
        "Red or white?",
    );
    reply.in_reply_to = Some(first.id);
    bob.send_mail(&reply).await.unwrap();
    alice.sync().await.unwrap();
    let got = alice.mailbox(Some(INBOX)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].thread, sent[0].thread,
        "the reply is in the first message's thread"
    );

    // Offline (alice's key pinned when her message came): composed and filed, queued;
    // delivered once at the next sync.
    server.down().await;
    let queued = carol
        .send_mail(&draft(
            &["alice"],
            &[],
            &[],
            "Offline",
            "Written on a train.",
        ))
        .await
        .unwrap();
    let m = carol.mailbox(Some(SENT)).unwrap();
    assert_eq!(m[0].id, queued);
    assert_eq!(m[0].status, "queued");
    server.up().await;
    let r = carol.sync().await.unwrap();
    assert_eq!(r.mail_sent, 1);
    assert_eq!(carol.mailbox(Some(SENT)).unwrap()[0].status, "sent");
    // A second sync (or another device holding it queued) delivers nothing again.
    assert_eq!(carol.sync().await.unwrap().mail_sent, 0);
    alice.sync().await.unwrap();
    let offline: Vec<_> = alice
        .mailbox(Some(INBOX))
        .unwrap()
        .into_iter()
        .filter(|m| m.subject == "Offline")
        .collect();
    assert_eq!(offline.len(), 1);

    // An unknown recipient is a clear error at once; nothing is filed.
    let e = alice
        .send_mail(&draft(&["nobody"], &[], &[], "?", "?"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no user nobody"), "{e}");
    assert_eq!(alice.mailbox(Some(SENT)).unwrap().len(), 1);
    let e = alice
        .send_mail(&draft(&["bob@elsewhere.example"], &[], &[], "?", "?"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("this server only"), "{e}");
    // A draft saved on one device is finished and sent on the other; it leaves Drafts.
    let mut d = draft(&["bob"], &[], &[], "Half-written", "To be");
    let draft_id = alice.save_draft(&d, None).await.unwrap();
    alice.sync().await.unwrap();
    alice2.sync().await.unwrap();
    let mut on_second = alice2.draft(draft_id).unwrap();
    assert_eq!(on_second.text, "To be");
    on_second.text.push_str(" continued.");
    alice2.save_draft(&on_second, Some(draft_id)).await.unwrap();
    let sent_id = alice2.send_draft(draft_id).await.unwrap();
    assert!(alice2.mailbox(Some("Drafts")).unwrap().is_empty());
    alice2.sync().await.unwrap();
    alice.sync().await.unwrap();
    assert!(
        alice.mailbox(Some("Drafts")).unwrap().is_empty(),
        "gone on the first device too"
    );
    assert!(
        alice
            .mailbox(Some(SENT))
            .unwrap()
            .iter()
            .any(|m| m.id == sent_id)
    );
    bob.sync().await.unwrap();
    let got = bob
        .mailbox(Some(INBOX))
        .unwrap()
        .into_iter()
        .find(|m| m.subject == "Half-written")
        .unwrap();
    assert_eq!(
        bob.read_mail(got.id).unwrap().text.trim_end(),
        "To be continued."
    );
    d.subject = "x".into();
    assert!(
        alice.save_draft(&d, Some(sent_id)).await.is_err(),
        "a sent message is no draft"
    );

    // Quarantine is not a place a person moves mail to.
    assert!(bob.move_mail(first.id, QUARANTINE).is_err());
    bob.move_mail(first.id, "archive").unwrap();
    assert_eq!(bob.mailbox(Some("Archive")).unwrap()[0].id, first.id);
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// The mail search: words of the sender, recipients, subject and body, accents and case
/// aside, a phrase, a part, a folder; it keeps up with mail taken in, moved and drafted;
/// its files are sealed; it resumes after a restart without indexing again, and a damaged
/// file makes it rebuild, not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_search() {
    let server = Server::start().await;
    let (mut alice, _alice2, _da) = account(&server, "alice").await;
    let bob_dir = tempfile::tempdir().unwrap();
    let mut bob = server.device(&bob_dir);
    let bob_sk = bob
        .signup("bob", "correct horse battery", None, None)
        .await
        .unwrap();
    let (_carol, _carol2, _dc) = account(&server, "carol").await;

    let send = |subject: &'static str, text: &'static str, cc: &'static [&'static str]| {
        draft(&["bob"], cc, &[], subject, text)
    };
    alice
        .send_mail(&send("Dinner on Friday", "Bring the wine.\n", &[]))
        .await
        .unwrap();
    alice
        .send_mail(&send(
            "Vacances d'été",
            "Le zeppelin part à midi.\n",
            &["carol"],
        ))
        .await
        .unwrap();
    alice
        .send_mail(&send(
            "Minutes",
            "The quarterly numbers, as promised.\n",
            &[],
        ))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    let subjects = |v: Vec<krypt7_client::mail::MailView>| {
        v.into_iter().map(|m| m.subject).collect::<Vec<_>>()
    };
    let search = |c: &mut Client, q: &str, folder: Option<&str>| {
        subjects(c.search_mail(q, folder, 50).unwrap())
    };
    assert_eq!(search(&mut bob, "WINE", None), ["Dinner on Friday"]);
    assert_eq!(search(&mut bob, "ete zeppelin", None), ["Vacances d'été"]);
    assert_eq!(search(&mut bob, "carol", None), ["Vacances d'été"]);
    assert_eq!(search(&mut bob, "from:alice", None).len(), 3);
    assert_eq!(search(&mut bob, "subject:minutes", None), ["Minutes"]);
    assert_eq!(search(&mut bob, "\"as promised\"", None), ["Minutes"]);
    assert!(search(&mut bob, "\"promised as\"", None).is_empty());
    assert!(search(&mut bob, "wine zeppelin", None).is_empty());
    assert_eq!(search(&mut bob, "from:alice -wine", None).len(), 2);
    // Nonsense is read as words, never an error; an empty query is one.
    assert!(search(&mut bob, "subject:( AND \"", None).is_empty());
    assert_eq!(
        bob.search_mail("  ", None, 50).unwrap_err().code(),
        "invalid_input"
    );

    // Kept up: a move, new mail, a draft and its edit.
    let bobs_wine = bob.search_mail_ids("wine", None, 5).unwrap()[0];
    bob.move_mail(bobs_wine, "Archive").unwrap();
    assert!(search(&mut bob, "wine", Some(INBOX)).is_empty());
    assert_eq!(
        search(&mut bob, "wine", Some("Archive")),
        ["Dinner on Friday"]
    );
    alice
        .send_mail(&send("Tickets", "Two seats for the opera.\n", &[]))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    assert_eq!(search(&mut bob, "opera", Some(INBOX)), ["Tickets"]);
    let d = bob
        .save_draft(
            &draft(&["alice"], &[], &[], "Re: Tickets", "Balcony please"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(search(&mut bob, "balcony", Some("Drafts")), ["Re: Tickets"]);
    bob.save_draft(
        &draft(&["alice"], &[], &[], "Re: Tickets", "Stalls please"),
        Some(d),
    )
    .await
    .unwrap();
    assert!(search(&mut bob, "balcony", None).is_empty());
    assert_eq!(search(&mut bob, "stalls", None), ["Re: Tickets"]);

    // Nothing of it in clear on disk: the index's files, and the rest of the cache.
    let index_files = files_under(&bob_dir.path().join("mail-index"));
    assert!(index_files.len() > 3, "{index_files:?}");
    for (path, bytes) in files_under(bob_dir.path()) {
        for word in ["zeppelin", "quarterly", "opera", "Stalls", "Dinner"] {
            assert!(
                !bytes.windows(word.len()).any(|w| w == word.as_bytes()),
                "{word} in clear in {}",
                path.display()
            );
        }
    }

    // A restart: the index is read back, nothing indexed again.
    drop(bob);
    let mut bob = server.device(&bob_dir);
    bob.unlock("correct horse battery", &bob_sk).unwrap();
    assert_eq!(bob.mail_index_current().unwrap(), 0);
    assert_eq!(search(&mut bob, "opera", None), ["Tickets"]);

    // Damage: every segment's postings and terms (a byte of their first chunk), then the
    // index's own list of segments. Each time the search gives the same answers from an
    // index made again (new segment files), not an error.
    let names = |dir: &std::path::Path| {
        let mut v: Vec<_> = files_under(dir).into_iter().map(|(p, _)| p).collect();
        v.sort();
        v
    };
    let index_dir = bob_dir.path().join("mail-index");
    for damaged in [&["idx", "term"][..], &["json"][..]] {
        drop(bob);
        let before = names(&index_dir);
        for (path, mut bytes) in files_under(&index_dir) {
            if path
                .extension()
                .is_some_and(|e| damaged.iter().any(|d| e == *d))
            {
                bytes[40] ^= 1;
                std::fs::write(&path, bytes).unwrap();
            }
        }
        bob = server.device(&bob_dir);
        bob.unlock("correct horse battery", &bob_sk).unwrap();
        assert_eq!(search(&mut bob, "zeppelin", None), ["Vacances d'été"]);
        assert_eq!(search(&mut bob, "from:alice", None).len(), 4);
        assert_ne!(names(&index_dir), before, "{damaged:?}: not made again");
    }
}

/// Blocking a sender: what is in the Inbox moves to Spam, what comes later goes there on
/// every device of the account (checked and kept, not dropped); unblocking lets mail
/// through again; the block list is the same on both devices and holds no message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_a_sender() {
    let server = Server::start().await;
    let (mut bob, mut bob2, _db) = account(&server, "bob").await;
    let (mut carol, _carol2, _dc) = account(&server, "carol").await;
    let (mut dave, _dave2, _dd) = account(&server, "dave").await;
    for s in ["Offer 1", "Offer 2"] {
        carol
            .send_mail(&draft(&["bob"], &[], &[], s, "Buy now.\n"))
            .await
            .unwrap();
    }
    dave.send_mail(&draft(&["bob"], &[], &[], "Lunch?", "Noon.\n"))
        .await
        .unwrap();
    bob.sync().await.unwrap();
    let subjects = |c: &Client, f: &str| {
        let mut v: Vec<String> = c
            .mailbox(Some(f))
            .unwrap()
            .into_iter()
            .map(|m| m.subject)
            .collect();
        v.sort();
        v
    };
    assert_eq!(subjects(&bob, INBOX), ["Lunch?", "Offer 1", "Offer 2"]);

    assert_eq!(bob.block_sender("carol").await.unwrap(), 2);
    assert_eq!(bob.block_sender("Carol@localhost").await.unwrap(), 0);
    assert_eq!(subjects(&bob, INBOX), ["Lunch?"]);
    assert_eq!(subjects(&bob, "Spam"), ["Offer 1", "Offer 2"]);
    assert_eq!(bob.blocked_senders().unwrap(), ["carol@localhost"]);
    bob.sync().await.unwrap();
    bob2.sync().await.unwrap();
    assert_eq!(bob2.blocked_senders().unwrap(), ["carol@localhost"]);
    assert_eq!(subjects(&bob2, "Spam"), ["Offer 1", "Offer 2"]);
    assert_eq!(
        bob2.mailbox(None).unwrap().len(),
        3,
        "the record is no message"
    );

    // Later mail from Carol, taken in by the other device: Spam, still checked.
    carol
        .send_mail(&draft(&["bob"], &[], &[], "Offer 3", "Last chance.\n"))
        .await
        .unwrap();
    bob2.sync().await.unwrap();
    let spam = bob2.mailbox(Some("Spam")).unwrap();
    let third = spam.iter().find(|m| m.subject == "Offer 3").unwrap();
    assert_eq!(
        (third.status.as_str(), third.signature.as_str()),
        ("received", "pinned")
    );
    assert_eq!(subjects(&bob2, INBOX), ["Lunch?"]);

    // Unblocked (on the first device): the next message reaches the Inbox on both.
    bob.sync().await.unwrap();
    bob.unblock_sender("carol").await.unwrap();
    assert_eq!(
        bob.unblock_sender("carol").await.unwrap_err().code(),
        "invalid_input"
    );
    assert!(bob.blocked_senders().unwrap().is_empty());
    bob.sync().await.unwrap();
    carol
        .send_mail(&draft(&["bob"], &[], &[], "Sorry", "No more offers.\n"))
        .await
        .unwrap();
    bob2.sync().await.unwrap();
    assert!(bob2.blocked_senders().unwrap().is_empty());
    assert_eq!(subjects(&bob2, INBOX), ["Lunch?", "Sorry"]);
    bob.sync().await.unwrap();
    assert_eq!(subjects(&bob, INBOX), ["Lunch?", "Sorry"]);
    assert_eq!(
        bob.block_sender("two words").await.unwrap_err().code(),
        "invalid_input"
    );
}

/// A 20 MB attachment with To, Cc and Bcc: every device of each recipient shows it and
/// fetches it whole (checked against the fingerprint the sender signed), the sender's
/// other device too; each recipient's storage counts it; search finds its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_with_an_attachment() {
    let server = Server::start().await;
    let (mut alice, mut alice2, _da) = account(&server, "alice").await;
    let (mut bob, mut bob2, _db) = account(&server, "bob").await;
    let (mut carol, _carol2, _dc) = account(&server, "carol").await;
    let (mut dave, _dave2, _dd) = account(&server, "dave").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("survey-results.bin");
    let content: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &content).unwrap();
    let before = bob.usage().await.unwrap().usage_bytes;
    let mut d = draft(&["bob"], &["carol"], &["dave"], "The survey", "Attached.\n");
    d.attachments = vec![file.clone()];
    let id = alice.send_mail(&d).await.unwrap();
    assert_eq!(alice.mailbox(Some(SENT)).unwrap()[0].status, "sent");
    alice.sync().await.unwrap();

    let devices = [&mut bob, &mut bob2, &mut carol, &mut dave, &mut alice2];
    for (n, c) in devices.into_iter().enumerate() {
        c.sync().await.unwrap();
        let all = c.mailbox(None).unwrap();
        let m = all
            .iter()
            .find(|m| m.subject == "The survey")
            .unwrap_or_else(|| panic!("device {n}: {all:?}"))
            .clone();
        assert_eq!(m.attachments.len(), 1, "{m:?}");
        assert_eq!(
            (m.attachments[0].name.as_str(), m.attachments[0].size),
            ("survey-results.bin", 20_000_000)
        );
        let out = work.path().join(format!("copy-{n}"));
        c.download_attachment(m.id, 0, &out, false).await.unwrap();
        assert!(std::fs::read(&out).unwrap() == content, "copy {n} differs");
    }
    assert!(bob.usage().await.unwrap().usage_bytes - before >= 20_000_000);
    let found = bob.search_mail("survey results", None, 10).unwrap();
    assert_eq!(found.len(), 1);
    // The sender's own copy, on her first device.
    let out = work.path().join("sent-copy");
    alice.download_attachment(id, 0, &out, false).await.unwrap();
    assert!(std::fs::read(&out).unwrap() == content);
    // A draft keeps no paths: refused, clearly.
    let mut d = draft(&["bob"], &[], &[], "Later", "");
    d.attachments = vec![file];
    assert_eq!(
        alice.save_draft(&d, None).await.unwrap_err().code(),
        "invalid_input"
    );
}

/// What the app's Mail view reads: pages of a folder, folders with their unread counts,
/// threads, suggested recipients; kept current when another process on the same cache (the
/// CLI beside the app) changes the mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailbox_by_page_folder_and_thread() {
    use krypt7_client::mail::ARCHIVE;
    let server = Server::start().await;
    let (mut alice, _alice2, _da) = account(&server, "alice").await;
    let db = tempfile::tempdir().unwrap();
    let mut bob = server.device(&db);
    let sk = bob
        .signup("bob", "correct horse battery", None, None)
        .await
        .unwrap();
    let mut ids = vec![];
    for subject in ["one", "two", "three"] {
        ids.push(
            alice
                .send_mail(&draft(&["bob"], &[], &[], subject, "text\n"))
                .await
                .unwrap(),
        );
    }
    bob.sync().await.unwrap();
    let folders = bob.mail_folders().unwrap();
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["Inbox", "Drafts", "Sent", "Archive", "Spam", "Trash"]
    );
    assert_eq!((folders[0].total, folders[0].unread), (3, 3));

    // Pages: every message once, newest first.
    let p1 = bob.mail_page(Some(INBOX), 0, 2).unwrap();
    let p2 = bob.mail_page(Some(INBOX), 2, 2).unwrap();
    assert_eq!((p1.total, p1.messages.len(), p2.messages.len()), (3, 2, 1));
    let all: Vec<_> = p1.messages.iter().chain(&p2.messages).collect();
    assert!(all.windows(2).all(|w| w[0].date >= w[1].date));
    let mut listed: Vec<_> = all.iter().map(|m| m.id).collect();
    listed.sort();
    let mut inbox: Vec<_> = bob
        .mailbox(Some(INBOX))
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    inbox.sort();
    assert_eq!(listed, inbox);

    // Reading one lowers the count; a reply joins its thread.
    let two = all.iter().find(|m| m.subject == "two").unwrap().id;
    bob.read_mail(two).unwrap();
    assert_eq!(bob.mail_folders().unwrap()[0].unread, 2);
    let reply = bob.reply_draft(two, false, "Yes.").await.unwrap();
    let sent = bob.send_mail(&reply).await.unwrap();
    // (Dates are whole seconds: the two may share one, so the order is checked by date.)
    let thread = bob.mail_thread(two).unwrap();
    let mut ids: Vec<_> = thread.iter().map(|m| m.id).collect();
    ids.sort();
    let mut want = vec![two, sent];
    want.sort();
    assert_eq!(ids, want, "the thread holds both");
    assert!(
        thread.windows(2).all(|w| w[0].date <= w[1].date),
        "the thread, oldest first"
    );

    // Another process on Bob's cache moves a message: this one's lists follow.
    let mut beside = Client::open(db.path(), Some(&server.url()), Some(&server.ca())).unwrap();
    beside.unlock("correct horse battery", &sk).unwrap();
    let three = all.iter().find(|m| m.subject == "three").unwrap().id;
    beside.move_mail(three, ARCHIVE).unwrap();
    let folders = bob.mail_folders().unwrap();
    assert_eq!(
        (folders[0].total, folders[3].name.as_str(), folders[3].total),
        (2, "Archive", 1)
    );
    assert_eq!(
        bob.mail_page(Some(ARCHIVE), 0, 10).unwrap().messages[0].id,
        three
    );

    // Suggestions: earlier correspondents and contacts, not oneself; verified once compared.
    let suggested = bob.mail_correspondents("al", 5).await.unwrap();
    assert_eq!(suggested.len(), 1);
    assert_eq!(
        (suggested[0].address.as_str(), suggested[0].verified),
        ("alice@localhost", false)
    );
    assert!(bob.mail_correspondents("bo", 5).await.unwrap().is_empty());
    bob.add_item(krypt7_client::ItemData {
        fields: std::collections::BTreeMap::from([(
            "emails".to_string(),
            "alice@localhost\nalice@elsewhere.example".to_string(),
        )]),
        ..krypt7_client::ItemData::new(krypt7_client::ItemKind::Contact, "Alice Liddell")
    })
    .unwrap();
    // Her messages were signed by the key pinned on first sight; once Bob compared it, they
    // show as verified (the summaries follow the pins, not only new mail).
    let signatures = |c: &Client| -> Vec<(String, String)> {
        c.mail_page(None, 0, 10)
            .unwrap()
            .messages
            .into_iter()
            .filter(|m| m.from.starts_with("alice"))
            .map(|m| (m.signature, m.signer))
            .collect()
    };
    let alices = alice.own_fingerprint().unwrap();
    let before = signatures(&bob);
    assert!(!before.is_empty());
    assert!(
        before.iter().all(|(s, f)| s == "pinned" && *f == alices),
        "{before:?}"
    );
    bob.verify_peer("alice", &alices).unwrap();
    let after = signatures(&bob);
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|(s, _)| s == "verified"), "{after:?}");
    // The same in a message opened by itself.
    let hers = bob
        .mail_page(None, 0, 10)
        .unwrap()
        .messages
        .into_iter()
        .find(|m| m.from.starts_with("alice"))
        .unwrap()
        .id;
    assert_eq!(bob.read_mail(hers).unwrap().view.signature, "verified");
    assert_eq!(bob.mail_view(hers).unwrap().signature, "verified");
    let by_name = bob.mail_correspondents("lidd", 5).await.unwrap();
    assert_eq!(by_name.len(), 1, "{by_name:?}");
    assert_eq!(
        (
            by_name[0].address.as_str(),
            by_name[0].name.as_str(),
            by_name[0].verified
        ),
        ("alice@localhost", "Alice Liddell", true)
    );
}
