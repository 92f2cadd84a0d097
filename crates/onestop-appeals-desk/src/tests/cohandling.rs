//! Co-handling (协办) and the second stage of escalation (督办).

use super::*;

/// A help request `water` leads (dispatched by the 停水 rule).
async fn led_by_water(d: &Desk, at: Millis) -> AppealRecord {
    let body = json!({"kind": "help", "title": "小区停水", "content": "三天没水，管道破裂"});
    let (a, _) = d.submit(submit("c1", None, &body), at).await.unwrap();
    assert_eq!(a.dept.as_deref(), Some("water"));
    a
}

#[tokio::test]
async fn the_lead_brings_in_a_co_handler_who_sees_it_and_assists_but_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let a = led_by_water(&d, T0).await;
    // Not yet a co-handler: housing may not see it.
    assert!(matches!(
        d.read(Who::Department("housing"), &a.id).await,
        Err(DeskError::NotYours(_))
    ));
    // Only the lead brings co-handlers in, and only known others.
    for (dept, co, want) in [
        ("housing", "emergency", 403),
        ("water", "water", 400),
        ("water", "nobody", 400),
    ] {
        let e = d
            .add_co_handler(dept, &a.id, co, "", T0 + 1)
            .await
            .unwrap_err();
        assert_eq!(e.status(), want, "{dept} adds {co}: {e}");
    }
    let a = d
        .add_co_handler("water", &a.id, "housing", "请核实管道产权", T0 + 10)
        .await
        .unwrap();
    assert_eq!(a.co_handlers, ["housing"]);
    assert_eq!(a.state, "dispatched", "co-handling moves nothing");
    let last = a.timeline.last().unwrap();
    assert_eq!(
        (
            last.event.as_str(),
            last.actor_id.as_deref(),
            last.dept.as_deref()
        ),
        ("cohandler_added", Some("water"), Some("housing"))
    );
    assert_eq!(last.note, "请核实管道产权");
    // Twice: a wrong state, nothing written.
    let e = d
        .add_co_handler("water", &a.id, "housing", "", T0 + 11)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    assert_eq!(d.read(Who::System, &a.id).await.unwrap().version, a.version);

    // The co-handler sees it, in its co-handled list and not in its own
    // queue; a third department still may not.
    assert_eq!(
        d.read(Who::Department("housing"), &a.id).await.unwrap().id,
        a.id
    );
    let listed = |dept: &'static str, cohandled: bool| {
        let d = &d;
        async move {
            d.list(
                Who::Department(dept),
                AppealFilter {
                    cohandler: cohandled.then(String::new),
                    ..AppealFilter::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("housing", true).await, [a.id.as_str()]);
    assert!(listed("housing", false).await.is_empty());
    assert!(listed("water", true).await.is_empty());
    assert_eq!(listed("water", false).await, [a.id.as_str()]);
    assert!(matches!(
        d.read(Who::Department("emergency"), &a.id).await,
        Err(DeskError::NotYours(_))
    ));

    // The co-handler neither accepts, replies nor returns: the lead does.
    for e in [
        d.accept("housing", &a.id, "", T0 + 20).await.unwrap_err(),
        d.reply("housing", &a.id, "答复", T0 + 20)
            .await
            .unwrap_err(),
        d.return_to_operators("housing", &a.id, "不归我", T0 + 20)
            .await
            .unwrap_err(),
        d.add_co_handler("housing", &a.id, "emergency", "", T0 + 20)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.status(), 403, "{e}");
    }
    // It gives its part; the lead may not "assist" its own appeal.
    assert_eq!(
        d.assist("housing", &a.id, " ", T0 + 30)
            .await
            .unwrap_err()
            .field(),
        Some("note")
    );
    assert_eq!(
        d.assist("water", &a.id, "我来", T0 + 30)
            .await
            .unwrap_err()
            .status(),
        403
    );
    let a = d
        .assist("housing", &a.id, "管道属小区物业，已通知维修", T0 + 40)
        .await
        .unwrap();
    let a = d.accept("water", &a.id, "", T0 + 50).await.unwrap();
    let a = d
        .reply("water", &a.id, "已协调物业修复", T0 + 60)
        .await
        .unwrap();
    assert_eq!(
        events(&a),
        [
            "submitted:citizen",
            "dispatched:system",
            "cohandler_added:department",
            "assisted:department",
            "accepted:department",
            "replied:department"
        ]
    );
    assert_eq!(a.timeline[3].actor_id.as_deref(), Some("housing"));
    // Replied: nothing more to assist with.
    assert_eq!(
        d.assist("housing", &a.id, "补充", T0 + 70)
            .await
            .unwrap_err()
            .status(),
        409
    );
    // The citizen sees who helped.
    let doc = view::appeal(&d.read(Who::Citizen("c1"), &a.id).await.unwrap(), T0);
    assert_eq!(doc["co_handlers"], json!(["housing"]));
}

#[tokio::test]
async fn still_overdue_a_working_day_after_the_reminder_it_is_supervised_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let mut settings = (*d.settings()).clone();
    settings.supervise_after = Limit::Millis(3_000);
    d.update(settings);
    // Consultations: accept within 1 s, reply within 5 s (configured).
    let body = json!({"kind": "consult", "title": "停水咨询", "content": "何时来水"});
    let (late, _) = d.submit(submit("c1", None, &body), T0).await.unwrap();
    let (answered, _) = d.submit(submit("c2", None, &body), T0).await.unwrap();
    let queued = json!({"kind": "consult", "title": "问题", "content": "内容"});
    let (q, _) = d.submit(submit("c1", None, &queued), T0).await.unwrap();
    let lease = Duration::from_secs(60);
    let scan = |at: Millis| {
        let d = &d;
        async move { scanner::scan_once(d, "gw", at, lease).await.unwrap() }
    };
    // 催办 at T0+1.5 s: all three.
    assert_eq!(scan(T0 + 1_500).await, Some(3));
    let late_now = d.read(Who::System, &late.id).await.unwrap();
    assert_eq!(late_now.supervise_due, Some(T0 + 4_500));
    // The operators' queue had its 督办 already: no second look.
    assert_eq!(
        d.read(Who::System, &q.id).await.unwrap().supervise_due,
        None
    );
    // One department answers in time after its reminder.
    d.accept("water", &answered.id, "", T0 + 2_000)
        .await
        .unwrap();
    d.reply("water", &answered.id, "明日来水", T0 + 2_500)
        .await
        .unwrap();
    // Before the second look: nothing.
    assert_eq!(scan(T0 + 4_000).await, Some(0));
    // After it: the late one, once, for the operators.
    assert_eq!(scan(T0 + 5_000).await, Some(1));
    assert_eq!(scan(T0 + 6_000).await, Some(0));
    let late_now = d.read(Who::Operator("op"), &late.id).await.unwrap();
    assert_eq!(
        (late_now.state.as_str(), late_now.supervised_at),
        ("escalated", Some(T0 + 5_000))
    );
    assert_eq!(
        events(&late_now),
        [
            "submitted:citizen",
            "dispatched:system",
            "escalated:system",
            "supervised:system"
        ]
    );
    assert!(late_now.timeline[3].note.contains("督办"));
    assert_eq!(
        view::appeal(&late_now, T0 + 6_000)["supervised_at"],
        T0 + 5_000
    );
    // Supervising again directly is a no-op; the department still works it.
    assert_eq!(d.supervise(&late_now, T0 + 7_000).await.unwrap(), None);
    let counts = d.counts(T0 + 7_000).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.supervised).sum::<i64>(), 1);
    d.accept("water", &late.id, "", T0 + 8_000).await.unwrap();
    let done = d
        .reply("water", &late.id, "已处理", T0 + 9_000)
        .await
        .unwrap();
    assert_eq!(done.state, "replied");
    let counts = d.counts(T0 + 9_000).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.supervised).sum::<i64>(), 0);
    // The answered one was never supervised.
    let answered = d.read(Who::System, &answered.id).await.unwrap();
    assert_eq!(answered.supervised_at, None);
}

#[tokio::test]
async fn an_appeal_accepted_after_its_reminder_is_supervised_only_once_its_reply_is_late() {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&dir).await;
    let mut settings = (*d.settings()).clone();
    settings.supervise_after = Limit::Millis(1_000);
    d.update(settings);
    let body = json!({"kind": "consult", "title": "停水咨询", "content": "何时来水"});
    let (a, _) = d.submit(submit("c1", None, &body), T0).await.unwrap();
    let lease = Duration::from_secs(60);
    assert_eq!(
        scanner::scan_once(&d, "gw", T0 + 1_500, lease)
            .await
            .unwrap(),
        Some(1)
    );
    // Accepted after the reminder: the reply is due at T0 + 5 s.
    d.accept("water", &a.id, "", T0 + 2_000).await.unwrap();
    assert_eq!(
        scanner::scan_once(&d, "gw", T0 + 4_000, lease)
            .await
            .unwrap(),
        Some(0),
        "not overdue any more: no 督办"
    );
    assert_eq!(
        scanner::scan_once(&d, "gw", T0 + 5_500, lease)
            .await
            .unwrap(),
        Some(1),
        "the reply is late too: 督办"
    );
    let a = d.read(Who::System, &a.id).await.unwrap();
    assert_eq!(
        (a.state.as_str(), a.supervised_at),
        ("accepted", Some(T0 + 5_500))
    );
    assert!(a.timeline.last().unwrap().note.contains("not replied"));
}
