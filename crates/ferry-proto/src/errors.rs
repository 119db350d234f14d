//! Reading an error's chain of causes, for messages that name the real
//! reason (reqwest's own message hides it). Shared by the CLI's and the
//! agent's HTTP clients and the server's webhook deliverer.

use std::error::Error;

/// The first `T` among `e` and its causes. An `io::Error` does not give
/// the error it wraps as its `source()`, so that is looked into as well
/// (hyper-rustls wraps tokio-rustls's `io::Error`, which wraps the
/// `rustls::Error`, in another one).
pub fn find_cause<'a, T: Error + 'static>(e: &'a (dyn Error + 'static)) -> Option<&'a T> {
    if let Some(found) = e.downcast_ref::<T>() {
        return Some(found);
    }
    if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
        && let Some(found) = find_cause::<T>(inner)
    {
        return Some(found);
    }
    e.source().and_then(find_cause::<T>)
}

/// `e` and its causes, joined by `: `; a cause whose text is already
/// there is left out.
pub fn error_chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The text of the deepest cause (for a refused connection:
/// `Connection refused (os error 111)`).
pub fn innermost(e: &(dyn Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a message and an optional cause.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<dyn Error + Send + Sync + 'static>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[derive(Debug, PartialEq)]
    struct Wanted;

    impl std::fmt::Display for Wanted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("certificate not trusted")
        }
    }

    impl Error for Wanted {}

    #[test]
    fn causes_are_found_through_sources_and_inside_io_errors() {
        // Like hyper-rustls: io::Error(io::Error(rustls::Error)) under the client's error.
        let hidden = std::io::Error::other(std::io::Error::other(Wanted));
        let top =
            Layer("error sending request", Some(Box::new(Layer("client error (Connect)", Some(Box::new(hidden))))));
        assert_eq!(find_cause::<Wanted>(&top), Some(&Wanted));
        let without = Layer("error sending request", Some(Box::new(std::io::Error::other("refused"))));
        assert_eq!(find_cause::<Wanted>(&without), None);
    }

    #[test]
    fn chains_join_causes_once_and_innermost_is_the_deepest() {
        let e = Layer(
            "error sending request",
            Some(Box::new(Layer("client error (Connect)", Some(Box::new(Layer("client error (Connect)", None)))))),
        );
        assert_eq!(error_chain(&e), "error sending request: client error (Connect)");
        let refused = Layer("error sending request", Some(Box::new(Layer("Connection refused", None))));
        assert_eq!(error_chain(&refused), "error sending request: Connection refused");
        assert_eq!(innermost(&refused), "Connection refused");
        assert_eq!(innermost(&Layer("alone", None)), "alone");
    }
}
