//! Checking an authorization request (RFC 6749 4.1.1, RFC 7636 4.3, OpenID
//! Connect Core 3.1.2.1): first the client and redirect URI, which decide
//! whether errors may redirect at all, then everything else.

use super::*;

/// client_id and redirect_uri, checked before anything may redirect.
/// `find_client` looks up a live client by id.
pub(super) fn verify_client(
    params: &Params,
    find_client: impl FnOnce(&str) -> Result<Option<Client>>,
) -> Result<std::result::Result<(Client, String), PageError>> {
    if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
        return Ok(Err(PageError::RepeatedParameter));
    }
    let Some(client_id) = params.get("client_id") else {
        return Ok(Err(PageError::MissingClientId));
    };
    let Some(client) = find_client(client_id)? else {
        return Ok(Err(PageError::UnknownClient));
    };
    // OpenID Connect makes redirect_uri required; we require it for every
    // request so the token endpoint can always bind the code to it.
    let Some(presented) = params.get("redirect_uri") else {
        return Ok(Err(PageError::MissingRedirectUri));
    };
    if client.matching_redirect_uri(presented).is_none() {
        tracing::info!(client_id = %client.id, "authorization request with unregistered redirect_uri");
        return Ok(Err(PageError::UnregisteredRedirectUri));
    }
    let presented = presented.to_owned();
    Ok(Ok((client, presented)))
}

/// Every check after the redirect URI is trusted; failures redirect.
pub(super) fn validate(
    p: &Provider,
    client: &Client,
    params: &Params,
    target: &Target,
) -> std::result::Result<PendingRecord, OAuthError> {
    params.reject_malformed()?;
    if params.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match params.get("response_mode") {
        None | Some("query") | Some("form_post") => {}
        Some(_) => return Err(OAuthError::invalid_request("unsupported response_mode")),
    }
    match params.require("response_type")? {
        "code" => {}
        _ => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    for name in [
        "state",
        "nonce",
        "login_hint",
        "prompt",
        "scope",
        "code_challenge",
    ] {
        if params.get(name).is_some_and(|v| v.len() > MAX_PARAM_LEN) {
            return Err(OAuthError::invalid_request(format!("{name} is too long")));
        }
    }
    let scope = granted_scope(client, params.get("scope"))?;
    let code_challenge = pkce_challenge(client, params)?;
    let prompt = parse_prompt(params.get("prompt"))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a non-negative integer")
        })?),
    };
    let now = p.now();
    Ok(PendingRecord {
        id: random::id(),
        client_id: client.id.to_string(),
        redirect_uri: target.redirect_uri.clone(),
        scope: scope.to_string(),
        state: target.state.clone(),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        response_mode: target.mode.as_str().to_owned(),
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        authenticated_session_id: None,
        created_at: now,
        expires_at: now + p.config.session.pending_request_ttl_secs,
    })
}

/// The requested scopes the client is allowed (RFC 6749 3.3 lets the server
/// narrow a request; the token response reports what was granted).
fn granted_scope(
    client: &Client,
    requested: Option<&str>,
) -> std::result::Result<Scope, OAuthError> {
    let requested =
        requested.ok_or_else(|| OAuthError::new(ErrorCode::InvalidScope, "scope is required"))?;
    if !requested
        .split(' ')
        .filter(|s| !s.is_empty())
        .all(scope::is_valid_token)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "scope has invalid characters",
        ));
    }
    let granted = Scope::parse(requested).intersection(&client.allowed_scopes);
    if granted.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "none of the requested scopes is allowed for this client",
        ));
    }
    Ok(granted)
}

/// RFC 7636 4.3 with S256 only; public clients must use it (RFC 9700 2.1.1).
fn pkce_challenge(
    client: &Client,
    params: &Params,
) -> std::result::Result<Option<String>, OAuthError> {
    let challenge = params.get("code_challenge");
    let method = params.get("code_challenge_method");
    match (challenge, method) {
        (None, None) if client.is_public() => Err(OAuthError::invalid_request(
            "public clients must use PKCE (code_challenge with S256)",
        )),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        // An absent method means "plain" (RFC 7636 4.3), which we refuse.
        (Some(_), None) | (Some(_), Some("plain")) => Err(OAuthError::invalid_request(
            "code_challenge_method must be S256; plain is not allowed",
        )),
        (Some(_), Some(m)) if m != "S256" => Err(OAuthError::invalid_request(
            "unsupported code_challenge_method",
        )),
        (Some(c), Some(_)) => {
            // base64url of a SHA-256 digest is exactly 43 characters.
            let ok = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ok {
                Ok(Some(c.to_owned()))
            } else {
                Err(OAuthError::invalid_request("malformed code_challenge"))
            }
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

pub(super) fn parse_prompt(value: Option<&str>) -> std::result::Result<Option<String>, OAuthError> {
    let Some(value) = value else { return Ok(None) };
    let prompt = prompt_flags(Some(value))
        .ok_or_else(|| OAuthError::invalid_request("unsupported prompt value"))?;
    if prompt.none && value.split(' ').filter(|v| !v.is_empty()).count() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(Some(value.to_owned()))
}

pub(super) fn prompt_flags(value: Option<&str>) -> Option<Prompt> {
    let mut prompt = Prompt::default();
    for v in value
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match v {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // One account per browser: choosing one is the login page.
            "select_account" => prompt.login = true,
            _ => return None,
        }
    }
    Some(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_none_alone() {
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("none")).is_ok());
        assert!(parse_prompt(Some("login consent")).is_ok());
        assert!(parse_prompt(Some("bogus")).is_err());
    }
}
