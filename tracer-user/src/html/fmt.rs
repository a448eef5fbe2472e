//! Text helpers for the page: HTML escaping, and numbers as people read them.

use serde_json::Value;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 850 ns, 1.2 µs, 3.4 ms, 2.1 s.
pub fn ns(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1} s", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1} ms", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1} µs", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0} ns")
    } else {
        format!("{v:.1} ns")
    }
}

/// A log2 bucket's lower bound, short: 512ns, 1µs, 16ms.
pub fn ns_short(v: u64) -> String {
    match v {
        v if v >= 1 << 30 => format!("{}s", v >> 30),
        v if v >= 1 << 20 => format!("{}ms", v >> 20),
        v if v >= 1 << 10 => format!("{}µs", v >> 10),
        v => format!("{v}ns"),
    }
}

/// 512 B, 4.0 KiB, 1.5 MiB.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v;
    let mut i = 0;
    while v.abs() >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A plain count or ratio: no trailing zeros for whole numbers.
pub fn num(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A JSON value as one short line: strings bare, numbers as numbers, the rest compact JSON.
pub fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => num(f),
            _ => n.to_string(),
        },
        // Long lists (a leak's sets) would bury the page: the first few and a count.
        Value::Array(a) if a.len() > 3 => {
            let first: Vec<String> = a[..3].iter().map(Value::to_string).collect();
            format!("{} items: [{}, …]", a.len(), first.join(", "))
        }
        other => other.to_string(),
    }
}

/// The field as text, when it is a string.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The field as a number, when it is one.
pub fn f64_of(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// The field as an array (empty when absent or not an array).
pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// "name (id12)", the name, the short id, or `fallback`.
pub fn container_label(v: &Value, fallback: &str) -> String {
    let name = str_of(v, "container_name").filter(|s| !s.is_empty());
    let id = str_of(v, "container_id").filter(|s| !s.is_empty());
    match (name, id) {
        (Some(n), Some(i)) if !i.starts_with(n) => format!("{n} ({})", short(i)),
        (Some(n), _) => n.to_string(),
        (None, Some(i)) => short(i).to_string(),
        (None, None) => fallback.to_string(),
    }
}

fn short(id: &str) -> &str {
    if id.len() > 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..12]
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn numbers_read_as_people_say_them() {
        assert_eq!(ns(850.0), "850 ns");
        assert_eq!(ns(1234.0), "1.2 µs");
        assert_eq!(ns(3.25), "3.2 ns");
        assert_eq!(ns_short(1024), "1µs");
        assert_eq!(ns_short(512), "512ns");
        assert_eq!(bytes(4096.0), "4.0 KiB");
        assert_eq!(bytes(12.0), "12 B");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(1.456), "1.46");
        assert_eq!(
            value(&serde_json::json!([1, 2, 3, 4, 5])),
            "5 items: [1, 2, 3, …]"
        );
    }

    #[test]
    fn containers_are_named_by_name_then_short_id() {
        let v =
            serde_json::json!({"container_name": "web", "container_id": "0123456789abcdef0123"});
        assert_eq!(container_label(&v, "-"), "web (0123456789ab)");
        let v = serde_json::json!({"container_id": "0123456789abcdef0123"});
        assert_eq!(container_label(&v, "-"), "0123456789ab");
        assert_eq!(container_label(&serde_json::json!({}), "host"), "host");
    }
}
