//! Reading the pages and redirects a browser would see.

use reqwest::{header, Response};
use url::Url;

pub fn location(r: &Response) -> String {
    r.headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of the hidden input `name` in `html`.
pub fn hidden_value(html: &str, name: &str) -> String {
    hidden_fields(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no hidden input {name} in:\n{html}"))
}

/// Every `<input type="hidden" name=".." value="..">` in `html`, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\"")
        .skip(1)
        .filter_map(|rest| {
            let name = attr(rest, "name")?;
            let value = attr(rest, "value").unwrap_or_default();
            Some((name, value))
        })
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let tag = &tag[..tag.find('>')?];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

pub fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}
