//! The Query protocol's XML answers, written by hand: every text goes through [`escape`], the
//! only place that turns a string into XML character data. Element names are `&'static str`
//! constants of this module's callers, never request data.

/// `text` as XML character data: `&`, `<` and `>` escaped (quotes need no escape outside
/// attributes, and this writer writes no attribute values from data); a character XML 1.0
/// cannot carry (controls other than tab, newline and carriage return) is replaced by U+FFFD,
/// so that no input can end an element or inject markup.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An XML document under construction.
pub(crate) struct Xml(String);

/// STS's namespace.
pub(crate) const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

impl Xml {
    /// `<ROOT xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`.
    pub(crate) fn root(name: &'static str) -> Self {
        Xml(format!("<{name} xmlns=\"{NAMESPACE}\">"))
    }

    /// Opens `<name>`.
    pub(crate) fn open(&mut self, name: &'static str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    /// Closes `</name>`.
    pub(crate) fn close(&mut self, name: &'static str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    /// `<name>escaped text</name>`.
    pub(crate) fn leaf(&mut self, name: &'static str, text: &str) -> &mut Self {
        self.open(name);
        self.0.push_str(&escape(text));
        self.close(name)
    }

    /// The document, with `</root>` appended.
    pub(crate) fn finish(mut self, root: &'static str) -> Vec<u8> {
        self.close(root);
        self.0.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(escape(r#"a<b>&"c"'d'"#), r#"a&lt;b&gt;&amp;"c"'d'"#);
        assert_eq!(escape("</Message><Code>x"), "&lt;/Message&gt;&lt;Code&gt;x");
        assert_eq!(escape("t\tn\nr\r"), "t\tn\nr&#13;");
        assert_eq!(escape("nul\0esc\u{1b}"), "nul\u{FFFD}esc\u{FFFD}");
        assert_eq!(escape("ünï©ødé"), "ünï©ødé");
    }

    #[test]
    fn documents_nest_and_close() {
        let mut x = Xml::root("R");
        x.open("A").leaf("B", "1 < 2").close("A");
        assert_eq!(
            String::from_utf8(x.finish("R")).expect("utf-8"),
            format!("<R xmlns=\"{NAMESPACE}\"><A><B>1 &lt; 2</B></A></R>")
        );
    }
}
