//! A browser stand-in: keeps cookies, never follows redirects, and knows how
//! to fill in our login and consent forms (reading the CSRF tokens from the
//! pages as a browser would).

use std::collections::HashMap;

use reqwest::blocking::{Client, Response};

pub struct Browser {
    pub client: Client,
}

/// The parameters of a redirect back to the client.
#[derive(Debug)]
pub struct Callback {
    pub url: String,
    pub params: HashMap<String, String>,
}

impl Callback {
    pub fn parse(url: &str) -> Self {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let params = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        Self {
            url: url.to_owned(),
            params,
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        let client = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("browser");
        Self { client }
    }

    pub fn get(&self, url: &str) -> Response {
        self.client.get(url).send().expect("GET")
    }

    /// The body of the page at `url`.
    pub fn html(&self, url: &str) -> String {
        self.get(url).text().expect("html")
    }

    pub fn post(&self, url: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(url).form(form).send().expect("POST")
    }

    /// From an authorization URL to the redirect back to the client: logs in
    /// and approves consent whenever the server asks.
    pub fn authorize(&self, base: &str, url: &str, username: &str, password: &str) -> Callback {
        let mut res = self.get(url);
        for _ in 0..6 {
            if res.status() == 200 {
                // The login form, shown by /authorize itself.
                res = self.fill_login(res, username, password);
                continue;
            }
            let location = location(&res)
                .unwrap_or_else(|| panic!("expected a redirect, got {}", res.status()));
            let absolute = if location.starts_with('/') {
                format!("{base}{location}")
            } else {
                location.clone()
            };
            if absolute.starts_with(&format!("{base}/login")) {
                res = self.submit_login(&absolute, username, password);
            } else if absolute.starts_with(&format!("{base}/consent")) {
                res = self.approve_consent(&absolute, "approve");
            } else if absolute.starts_with(base) {
                res = self.get(&absolute);
            } else {
                return Callback::parse(&absolute);
            }
        }
        panic!("too many redirects");
    }

    /// GETs the login page at `url`, then posts the form.
    pub fn submit_login(&self, url: &str, username: &str, password: &str) -> Response {
        self.fill_login(self.get(url), username, password)
    }

    /// Posts the login form on `page` (the login page, or the answer of
    /// /authorize when it shows the form itself).
    pub fn fill_login(&self, page: Response, username: &str, password: &str) -> Response {
        assert_eq!(page.status(), 200, "login page");
        let url = page.url();
        let action = format!("{}/login", &url[..url::Position::BeforePath]);
        let html = page.text().expect("html");
        assert!(html.contains("action=\"/login\""), "a login form");
        let request = hidden(&html, "request");
        let csrf = hidden(&html, "csrf");
        let return_to = hidden_opt(&html, "return_to").unwrap_or_default();
        self.post(
            &action,
            &[
                ("request", &request),
                ("return_to", &return_to),
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
    }

    /// GETs the consent page at `url` and posts `decision`.
    pub fn approve_consent(&self, url: &str, decision: &str) -> Response {
        let page = self.get(url);
        assert_eq!(page.status(), 200, "consent page");
        let html = page.text().expect("html");
        let action = url.split("/consent").next().unwrap_or_default().to_owned() + "/consent";
        self.post(
            &action,
            &[
                ("request", &hidden(&html, "request")),
                ("csrf", &hidden(&html, "csrf")),
                ("decision", decision),
            ],
        )
    }
}

pub fn location(res: &Response) -> Option<String> {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The value of the hidden input `name`, unescaped.
pub fn hidden(html: &str, name: &str) -> String {
    hidden_opt(html, name).unwrap_or_else(|| panic!("no input {name} in page"))
}

pub fn hidden_opt(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// Decodes the entities an HTML escaper produces (named and numeric).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').unwrap_or(0);
        let entity = &rest[1..end.max(1)];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "amp" => Some('&'),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) if end > 0 => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
