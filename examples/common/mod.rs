//! Helpers shared by the examples (not an example itself).

use std::any::Any;

/// The panic's message, when it is a string.
pub fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "<not a string>"
    }
}

/// The default panic hook prints a message for every panic, including the ones the pool
/// catches. This one keeps quiet about panics whose message starts with `planned` (the ones
/// an example causes on purpose); anything else is a real problem and shows.
pub fn install_quiet_panic_hook(planned: &'static str) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !panic_text(info.payload()).starts_with(planned) {
            default(info);
        }
    }));
}
