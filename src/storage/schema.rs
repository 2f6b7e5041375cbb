//! Diesel table definitions, kept by hand in step with `migrations/`.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        name -> Nullable<Text>,
        is_admin -> Bool,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        first_party -> Bool,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        allowed_scopes -> Text,
        grant_types -> Text,
        refresh_without_offline_access -> Bool,
        access_token_ttl_secs -> Nullable<BigInt>,
        refresh_absolute_ttl_secs -> Nullable<BigInt>,
        refresh_idle_ttl_secs -> Nullable<BigInt>,
        disabled -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    login_sessions (id) {
        id -> Text,
        secret_hash -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    pending_requests (id) {
        id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        state -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        response_mode -> Text,
        prompt -> Nullable<Text>,
        max_age -> Nullable<BigInt>,
        login_hint -> Nullable<Text>,
        authenticated_session_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        scope -> Text,
        auth_time -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        id -> Text,
        grant_id -> Text,
        client_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        grace_used -> Bool,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        redirect_uri -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    access_tokens (jti) {
        jti -> Text,
        grant_id -> Nullable<Text>,
        client_id -> Text,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Text,
        created_at -> BigInt,
        active -> Bool,
        activates_at -> Nullable<BigInt>,
        retires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        kind -> Text,
        outcome -> Text,
        actor_user_id -> Nullable<Text>,
        subject_user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        source_ip -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::joinable!(login_sessions -> users (user_id));
diesel::joinable!(authorization_codes -> grants (grant_id));
diesel::joinable!(refresh_tokens -> grants (grant_id));
diesel::joinable!(grants -> clients (client_id));
diesel::joinable!(access_tokens -> grants (grant_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    login_sessions,
    pending_requests,
    consents,
    grants,
    authorization_codes,
    refresh_tokens,
    access_tokens,
    signing_keys,
    server_secrets,
    audit_events,
);
