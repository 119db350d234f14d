//! Each forge's payloads (small fixtures in the shape the forges send),
//! signatures, and each filter type.

use serde_json::json;

use super::*;

const SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const BEFORE: &str = "1f0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

fn github_push() -> Value {
    json!({
        "ref": "refs/heads/main",
        "before": BEFORE,
        "after": SHA,
        "created": false,
        "deleted": false,
        "forced": false,
        "repository": {
            "id": 1296269,
            "full_name": "octo/shop",
            "clone_url": "https://github.com/octo/shop.git",
            "html_url": "https://github.com/octo/shop"
        },
        "pusher": { "name": "octocat", "email": "octocat@example.com" },
        "sender": { "login": "octocat", "id": 583231 },
        "commits": [
            { "id": BEFORE, "message": "docs", "added": ["docs/a.md"], "removed": [], "modified": ["README.md"] },
            { "id": SHA, "message": "Fix the cart\n\nDetails", "added": [], "removed": ["old.txt"], "modified": ["src/cart.rs", "README.md"] }
        ],
        "head_commit": { "id": SHA, "message": "Fix the cart\n\nDetails", "added": [], "removed": ["old.txt"], "modified": ["src/cart.rs", "README.md"] }
    })
}

fn github_pull_request(action: &str, merged: bool) -> Value {
    json!({
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "state": if action == "closed" { "closed" } else { "open" },
            "merged": merged,
            "merge_commit_sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6",
            "head": { "ref": "feature/cart", "sha": SHA, "repo": { "full_name": "octo/shop" } },
            "base": { "ref": "main", "sha": BEFORE }
        },
        "repository": { "clone_url": "https://github.com/octo/shop.git" },
        "sender": { "login": "hubot", "id": 8000 }
    })
}

fn gitlab_push() -> Value {
    json!({
        "object_kind": "push",
        "event_name": "push",
        "before": BEFORE,
        "after": SHA,
        "ref": "refs/heads/main",
        "checkout_sha": SHA,
        "user_id": 4,
        "user_username": "jsmith",
        "project_id": 15,
        "project": {
            "id": 15,
            "web_url": "https://gitlab.example.com/mike/diaspora",
            "git_http_url": "https://gitlab.example.com/mike/diaspora.git",
            "path_with_namespace": "mike/diaspora"
        },
        "commits": [
            { "id": SHA, "message": "Update Catalan translation\n", "added": ["CHANGELOG"], "modified": ["app/controller/application.rb"], "removed": [] }
        ],
        "total_commits_count": 1
    })
}

fn gitlab_merge_request(action: &str) -> Value {
    json!({
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": { "id": 1, "username": "root" },
        "project": { "id": 1, "git_http_url": "https://gitlab.example.com/gitlabhq/gitlab-test.git" },
        "object_attributes": {
            "iid": 12,
            "action": action,
            "source_branch": "ms-viewport",
            "target_branch": "master",
            "oldrev": BEFORE,
            "merge_commit_sha": if action == "merge" { json!("aabbcc") } else { Value::Null },
            "last_commit": { "id": SHA, "message": "fixed readme" }
        }
    })
}

fn gitea_push() -> Value {
    json!({
        "ref": "refs/tags/v1.2.0",
        "before": ZERO_COMMIT,
        "after": SHA,
        "commits": [],
        "head_commit": { "id": SHA, "message": "Release 1.2.0\n" },
        "repository": { "id": 1, "clone_url": "https://gitea.example.com/org/shop.git" },
        "pusher": { "id": 3, "login": "gitea" },
        "sender": { "id": 3, "login": "gitea" }
    })
}

fn gitea_pull_request(action: &str) -> Value {
    json!({
        "action": action,
        "number": 3,
        "pull_request": {
            "number": 3,
            "merged": false,
            "head": { "ref": "fix", "sha": SHA },
            "base": { "ref": "main", "sha": BEFORE }
        },
        "repository": { "clone_url": "https://gitea.example.com/org/shop.git" },
        "sender": { "id": 3, "login": "gitea" }
    })
}

fn event(forge: Forge, header: &str, body: &Value) -> WebhookEvent {
    match parse(forge, header, body.to_string().as_bytes()).unwrap() {
        Parsed::Event(e) => *e,
        Parsed::Ignored(why) => panic!("ignored: {why}"),
    }
}

fn ignored(forge: Forge, header: &str, body: &Value) -> String {
    match parse(forge, header, body.to_string().as_bytes()).unwrap() {
        Parsed::Ignored(why) => why,
        Parsed::Event(e) => panic!("an event: {e:?}"),
    }
}

#[test]
fn github_payloads() {
    let push = event(Forge::GitHub, "push", &github_push());
    assert_eq!(push.event, WebhookEventType::Push);
    assert_eq!((push.head_ref.as_str(), push.commit.as_str()), ("refs/heads/main", SHA));
    assert_eq!(push.prev_commit.as_deref(), Some(BEFORE));
    assert_eq!(push.actor_account_id.as_deref(), Some("583231"));
    assert_eq!(push.commit_message.as_deref(), Some("Fix the cart\n\nDetails"));
    assert_eq!(
        push.changed_files.as_deref().unwrap(),
        ["docs/a.md", "README.md", "src/cart.rs", "old.txt"],
        "every commit's files, once each"
    );
    assert_eq!(push.repository_url.as_deref(), Some("https://github.com/octo/shop.git"));
    assert_eq!((push.trigger(), push.source_version()), ("branch/main".to_string(), SHA.to_string()));

    let cases = [
        ("opened", false, WebhookEventType::PullRequestCreated),
        ("synchronize", false, WebhookEventType::PullRequestUpdated),
        ("reopened", false, WebhookEventType::PullRequestReopened),
        ("closed", true, WebhookEventType::PullRequestMerged),
        ("closed", false, WebhookEventType::PullRequestClosed),
    ];
    for (action, merged, want) in cases {
        let pr = event(Forge::GitHub, "pull_request", &github_pull_request(action, merged));
        assert_eq!(pr.event, want, "{action}");
        assert_eq!(pr.head_ref, "refs/heads/feature/cart");
        assert_eq!(pr.base_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!((pr.commit.as_str(), pr.pr_number), (SHA, Some(7)));
        assert_eq!(pr.actor_account_id.as_deref(), Some("8000"));
        assert_eq!(pr.merge_commit.is_some(), merged);
        assert_eq!((pr.trigger(), pr.source_version()), ("pr/7".to_string(), "pr/7".to_string()));
        assert_eq!(pr.changed_files, None, "a pull request's payload lists no files");
    }
    assert!(ignored(Forge::GitHub, "pull_request", &github_pull_request("labeled", false)).contains("labeled"));
    assert!(ignored(Forge::GitHub, "ping", &json!({"zen": "Keep it simple."})).contains("ping"));
    assert!(ignored(Forge::GitHub, "issues", &json!({})).contains("issues"));
    let mut deleted = github_push();
    deleted["deleted"] = json!(true);
    deleted["after"] = json!(ZERO_COMMIT);
    assert!(ignored(Forge::GitHub, "push", &deleted).contains("deleted"));
    let err = parse(Forge::GitHub, "push", b"{not json").unwrap_err();
    assert!(err.0.contains("not JSON"), "{err}");
    let err = parse(Forge::GitHub, "push", json!({"after": SHA}).to_string().as_bytes()).unwrap_err();
    assert!(err.0.contains("no ref"), "{err}");
}

#[test]
fn gitlab_payloads() {
    let push = event(Forge::GitLab, "Push Hook", &gitlab_push());
    assert_eq!((push.event, push.commit.as_str()), (WebhookEventType::Push, SHA));
    assert_eq!(push.actor_account_id.as_deref(), Some("4"));
    assert_eq!(push.commit_message.as_deref(), Some("Update Catalan translation\n"));
    assert_eq!(push.changed_files.as_deref().unwrap(), ["CHANGELOG", "app/controller/application.rb"]);
    assert_eq!(push.repository_url.as_deref(), Some("https://gitlab.example.com/mike/diaspora.git"));
    let mut tag = gitlab_push();
    tag["ref"] = json!("refs/tags/v2");
    assert_eq!(event(Forge::GitLab, "Tag Push Hook", &tag).trigger(), "tag/v2");

    for (action, want) in [
        ("open", WebhookEventType::PullRequestCreated),
        ("update", WebhookEventType::PullRequestUpdated),
        ("reopen", WebhookEventType::PullRequestReopened),
        ("merge", WebhookEventType::PullRequestMerged),
        ("close", WebhookEventType::PullRequestClosed),
    ] {
        let mr = event(Forge::GitLab, "Merge Request Hook", &gitlab_merge_request(action));
        assert_eq!(mr.event, want, "{action}");
        assert_eq!(
            (mr.head_ref.as_str(), mr.base_ref.as_deref()),
            ("refs/heads/ms-viewport", Some("refs/heads/master"))
        );
        assert_eq!((mr.pr_number, mr.commit.as_str()), (Some(12), SHA));
        assert_eq!(mr.commit_message.as_deref(), Some("fixed readme"));
        assert_eq!(mr.actor_account_id.as_deref(), Some("1"));
        assert_eq!(mr.merge_commit.as_deref(), (action == "merge").then_some("aabbcc"));
    }
    let mut edited = gitlab_merge_request("update");
    edited["object_attributes"].as_object_mut().unwrap().remove("oldrev");
    assert!(ignored(Forge::GitLab, "Merge Request Hook", &edited).contains("update"), "a title edit builds nothing");
    assert!(ignored(Forge::GitLab, "Note Hook", &json!({})).contains("Note Hook"));
}

#[test]
fn gitea_payloads() {
    let push = event(Forge::Gitea, "push", &gitea_push());
    assert_eq!((push.event, push.head_ref.as_str()), (WebhookEventType::Push, "refs/tags/v1.2.0"));
    assert_eq!(push.prev_commit, None, "a new ref has no previous commit");
    assert_eq!(push.trigger(), "tag/v1.2.0");
    assert_eq!(push.commit_message.as_deref(), Some("Release 1.2.0\n"));
    assert_eq!(push.actor_account_id.as_deref(), Some("3"));
    let pr = event(Forge::Gitea, "pull_request", &gitea_pull_request("synchronized"));
    assert_eq!((pr.event, pr.pr_number), (WebhookEventType::PullRequestUpdated, Some(3)));
    assert_eq!(pr.base_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(pr.forge.name(), "gitea");
}

#[test]
fn forges_are_told_apart_by_their_event_header() {
    let headers = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    };
    assert_eq!(Forge::detect(headers(&[("x-github-event", "push")])), Some((Forge::GitHub, "push")));
    assert_eq!(Forge::detect(headers(&[("x-gitlab-event", "Push Hook")])), Some((Forge::GitLab, "Push Hook")));
    // Gitea sends GitHub's header too.
    let gitea = headers(&[("x-github-event", "push"), ("x-gitea-event", "push")]);
    assert_eq!(Forge::detect(gitea), Some((Forge::Gitea, "push")));
    assert_eq!(Forge::detect(headers(&[])), None);
}

#[test]
fn signatures_valid_wrong_and_missing() {
    let body = github_push().to_string();
    let secret = "It's a Secret to Everybody";
    // GitHub's documented example: this secret and body give this signature.
    assert_eq!(
        github_signature(secret, b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    let check = |forge: Forge, headers: Vec<(&'static str, String)>, body: &str| {
        verify(
            forge,
            |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()),
            body.as_bytes(),
            secret,
        )
    };
    let good = github_signature(secret, body.as_bytes());
    assert_eq!(check(Forge::GitHub, vec![("x-hub-signature-256", good.clone())], &body), Ok(()));
    let tampered = body.replace("main", "prod");
    assert_eq!(
        check(Forge::GitHub, vec![("x-hub-signature-256", good.clone())], &tampered),
        Err(SignatureError::Wrong)
    );
    let other = github_signature("another secret", body.as_bytes());
    assert_eq!(check(Forge::GitHub, vec![("x-hub-signature-256", other)], &body), Err(SignatureError::Wrong));
    assert_eq!(check(Forge::GitHub, vec![], &body), Err(SignatureError::Missing));
    let sha1 = vec![("x-hub-signature-256", good.replace("sha256=", "sha1="))];
    assert_eq!(check(Forge::GitHub, sha1, &body), Err(SignatureError::Malformed));
    let short = vec![("x-hub-signature-256", "sha256=abcd".to_string())];
    assert_eq!(check(Forge::GitHub, short, &body), Err(SignatureError::Wrong));
    assert_eq!(
        check(Forge::GitHub, vec![("x-hub-signature-256", "sha256=zz".into())], &body),
        Err(SignatureError::Malformed)
    );

    let gitea = gitea_signature(secret, body.as_bytes());
    assert_eq!(check(Forge::Gitea, vec![("x-gitea-signature", gitea.clone())], &body), Ok(()));
    assert_eq!(check(Forge::Gitea, vec![("x-gitea-signature", gitea)], &tampered), Err(SignatureError::Wrong));
    assert_eq!(check(Forge::Gitea, vec![("x-hub-signature-256", good)], &body), Err(SignatureError::Missing));

    assert_eq!(check(Forge::GitLab, vec![("x-gitlab-token", secret.into())], &body), Ok(()));
    assert_eq!(
        check(Forge::GitLab, vec![("x-gitlab-token", "It's a secret".into())], &body),
        Err(SignatureError::Wrong)
    );
    assert_eq!(check(Forge::GitLab, vec![], &body), Err(SignatureError::Missing));
}

fn filter(filter_type: WebhookFilterType, pattern: &str, exclude: bool) -> WebhookFilter {
    WebhookFilter { filter_type, pattern: pattern.into(), exclude_matched_pattern: exclude }
}

#[test]
fn each_filter_type_matches_and_excludes() {
    use WebhookFilterType as T;
    let push = event(Forge::GitHub, "push", &github_push());
    let pr = event(Forge::GitHub, "pull_request", &github_pull_request("opened", false));
    let cases: &[(WebhookFilter, &WebhookEvent, bool)] = &[
        (filter(T::Event, "PUSH", false), &push, true),
        (filter(T::Event, "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED", false), &push, false),
        (filter(T::Event, "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED", false), &pr, true),
        (filter(T::Event, "PUSH", true), &pr, true),
        (filter(T::HeadRef, "^refs/heads/main$", false), &push, true),
        (filter(T::HeadRef, "^refs/heads/main$", false), &pr, false),
        (filter(T::HeadRef, "^refs/tags/", true), &push, true),
        (filter(T::HeadRef, "feature", false), &pr, true),
        (filter(T::BaseRef, "^refs/heads/main$", false), &pr, true),
        (filter(T::BaseRef, "^refs/heads/dev$", true), &pr, true),
        (filter(T::BaseRef, "^refs/heads/main$", false), &push, false),
        (filter(T::BaseRef, "^refs/heads/dev$", true), &push, false),
        (filter(T::FilePath, r"^src/", false), &push, true),
        (filter(T::FilePath, r"^lib/", false), &push, false),
        (filter(T::FilePath, r"\.md$", true), &push, false),
        (filter(T::FilePath, r"^lib/", true), &push, true),
        (filter(T::FilePath, r".*", false), &pr, false),
        (filter(T::CommitMessage, r"^Fix", false), &push, true),
        (filter(T::CommitMessage, r"\[skip ci\]", true), &push, true),
        (filter(T::CommitMessage, r".*", false), &pr, false),
        (filter(T::ActorAccountId, "^583231$", false), &push, true),
        (filter(T::ActorAccountId, "^583231$", true), &push, false),
        (filter(T::ActorAccountId, "^8000$", false), &pr, true),
    ];
    for (f, e, want) in cases {
        assert_eq!(filter_matches(f, e), *want, "{f:?} on {:?}", e.event);
    }
}

#[test]
fn groups_match_when_all_their_filters_do_and_any_group_does() {
    use WebhookFilterType as T;
    let push = event(Forge::GitHub, "push", &github_push());
    let pr = event(Forge::GitHub, "pull_request", &github_pull_request("opened", false));
    let groups = vec![
        vec![filter(T::Event, "PULL_REQUEST_CREATED", false), filter(T::BaseRef, "^refs/heads/release$", false)],
        vec![filter(T::Event, "PUSH", false), filter(T::HeadRef, "^refs/heads/main$", false)],
    ];
    check_filter_groups(&groups).unwrap();
    assert_eq!(matching_group(&groups, &push), Some(1));
    assert_eq!(matching_group(&groups, &pr), None, "the base branch is not release");
    assert_eq!(matching_group(&[], &push), Some(0), "no groups: pushes build");
    let closed = event(Forge::GitHub, "pull_request", &github_pull_request("closed", false));
    assert_eq!(matching_group(&[], &closed), None, "no groups: a closed pull request does not");

    let text = "EVENT=PUSH,PULL_REQUEST_CREATED;HEAD_REF=^refs/heads/main$;FILE_PATH!=^docs/";
    let parsed = parse_filter_group(text).unwrap();
    assert_eq!(
        parsed,
        [
            filter(T::Event, "PUSH,PULL_REQUEST_CREATED", false),
            filter(T::HeadRef, "^refs/heads/main$", false),
            filter(T::FilePath, "^docs/", true)
        ]
    );
    assert!(parse_filter_group("BRANCH=main").unwrap_err().contains("not one of"));
    assert!(parse_filter_group("EVENT").unwrap_err().contains("TYPE=PATTERN"));
}

#[test]
fn filter_groups_follow_codebuilds_rules() {
    use WebhookFilterType as T;
    let err = |groups: Vec<Vec<WebhookFilter>>| check_filter_groups(&groups).unwrap_err();
    assert!(err(vec![vec![filter(T::HeadRef, "main", false)]]).contains("0 EVENT filters"));
    assert!(err(vec![vec![filter(T::Event, "PUSH", false), filter(T::Event, "PUSH", false)]]).contains("2 EVENT"));
    assert!(err(vec![vec![filter(T::Event, "PUSH, RELEASED", false)]]).contains("\"RELEASED\""));
    assert!(err(vec![vec![filter(T::Event, "PUSH", false), filter(T::HeadRef, "(", false)]]).contains("HEAD_REF"));
    assert!(
        err(vec![vec![filter(T::Event, "PUSH", false), filter(T::HeadRef, &"a".repeat(1025), false)]])
            .contains("at most 1024")
    );
    assert!(check_filter_groups(&[]).is_ok());
}

#[test]
fn commit_status_requests_per_forge() {
    let status = Status {
        state: CommitState::Failure,
        target_url: "https://ferry.example/console/builds/x",
        description: "build 3 failed",
        context: "ferry/shop",
    };
    let gh = status_request(Forge::GitHub, "https://github.com/octo/shop.git", SHA, &status, "tok").unwrap();
    assert_eq!(gh.url, format!("https://api.github.com/repos/octo/shop/statuses/{SHA}"));
    assert_eq!(gh.auth_header, ("authorization", "Bearer tok".to_string()));
    assert_eq!(gh.body["state"], "failure");
    assert_eq!(gh.body["context"], "ferry/shop");
    let ghe = status_request(Forge::GitHub, "git@ghe.example:octo/shop.git", SHA, &status, "tok").unwrap();
    assert_eq!(ghe.url, format!("https://ghe.example/api/v3/repos/octo/shop/statuses/{SHA}"));
    let gl = status_request(Forge::GitLab, "https://gitlab.example/group/sub/proj.git", SHA, &status, "tok").unwrap();
    assert_eq!(gl.url, format!("https://gitlab.example/api/v4/projects/group%2Fsub%2Fproj/statuses/{SHA}"));
    assert_eq!(gl.auth_header.0, "private-token");
    assert_eq!((gl.body["state"].as_str(), gl.body["name"].as_str()), (Some("failed"), Some("ferry/shop")));
    let gt = status_request(Forge::Gitea, "http://127.0.0.1:3000/org/shop", SHA, &status, "tok").unwrap();
    assert_eq!(gt.url, format!("http://127.0.0.1:3000/api/v1/repos/org/shop/statuses/{SHA}"));
    assert_eq!(gt.auth_header, ("authorization", "token tok".to_string()));
    assert_eq!(
        repository_of("ssh://git@host.example:2222/o/r.git"),
        Some(("https://host.example".into(), "o/r".into()))
    );
    assert_eq!(repository_of("/srv/git/shop.git"), None);
    assert_eq!(repository_of("https://host.example/"), None);
}
