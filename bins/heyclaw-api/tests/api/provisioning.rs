//! Signup and the agent provisioning seam: a failing provisioner never
//! fails a signup.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::RunQueryDsl;
use heyclaw_app::{
    accounts::{Accounts, AccountsConfig, ClientInfo},
    auth::limits::AuthLimits,
    mail::LogMailer,
    provisioning::{AgentLifecycle, ProvisioningError},
};
use heyclaw_domain::UserId;
use heyclaw_test_support::{TestDatabase, new_redis_prefix, redis_store};
use secrecy::SecretString;

#[derive(Default)]
struct FailingAgents {
    provision_calls: AtomicUsize,
}

#[async_trait]
impl AgentLifecycle for FailingAgents {
    async fn provision(&self, _user: UserId) -> Result<(), ProvisioningError> {
        self.provision_calls.fetch_add(1, Ordering::SeqCst);
        Err(ProvisioningError("no gateway shard is configured".into()))
    }

    fn prewake(&self, _user: UserId) {}
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text)]
    status: String,
}

#[tokio::test]
async fn signup_succeeds_and_keeps_the_account_when_provisioning_fails() {
    let db = TestDatabase::create().await;
    let pg = db.pool();
    let redis = redis_store(&new_redis_prefix());
    let agents = Arc::new(FailingAgents::default());
    let accounts = Accounts::new(
        pg,
        redis.clone(),
        AccountsConfig {
            jwt_secret: SecretString::from("s".repeat(40)),
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(86_400),
            password_reset_ttl: Duration::from_secs(3600),
            password_reset_url: "https://heyclaw.test/reset".into(),
            limits: AuthLimits::default(),
            login_code_ttl: Duration::from_secs(600),
            review_account: None,
            apple: None,
            refresh_reuse_grace: Duration::from_secs(30),
            deletion_token_ttl: Duration::from_secs(600),
            password_hashing: heyclaw_app::auth::passwords::PasswordHashing::new(
                2,
                Duration::from_secs(10),
            ),
        },
        Arc::new(LogMailer { content: false }),
        agents.clone(),
        heyclaw_app::clock::system(),
        heyclaw_app::access_cache::AccessCache::new(Duration::ZERO),
    );
    let client = ClientInfo::default();
    let signed_in = accounts
        .signup(
            "uma@example.com",
            SecretString::from("testpass123"),
            Some("Uma"),
            &client,
        )
        .await
        .expect("signup succeeds although provisioning failed");
    assert_eq!(
        AtomicUsize::load(&agents.provision_calls, Ordering::SeqCst),
        1
    );

    // The account is whole: the assistant row waits for a retry.
    let mut conn = db.connect().await;
    let row: Status = diesel::sql_query("SELECT status FROM assistants")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.status, "provisioning");
    let login = accounts
        .login(
            "uma@example.com",
            SecretString::from("testpass123"),
            &client,
        )
        .await
        .unwrap();
    assert_eq!(login.user_id, signed_in.user_id);

    // Deleting the account also succeeds.
    let auth = accounts
        .authenticate(Some(&login.tokens.access_token))
        .await
        .unwrap();
    accounts.delete_account(&auth).await.unwrap();
    redis.delete_keyspace().await.unwrap();
}
