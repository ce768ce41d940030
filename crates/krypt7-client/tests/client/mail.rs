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
