//! The unsafe layer under [`super::KafkaAdmin`]: the client handle, RAII ownership of
//! librdkafka's C objects, submitting a request and waiting for its result, and turning
//! C error codes and strings into [`AdminError`]s. Everything unsafe about librdkafka's
//! admin API is here; the operations in `ops` only combine these.

use std::ffi::{CStr, CString, c_char, c_int};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use rdkafka_sys as sys;
use sys::rd_kafka_admin_op_t as AdminOp;

use super::{AdminError, GroupOffset};
use crate::kafka::ClusterAccess;

/// librdkafka's own "timed out" code.
const TIMED_OUT: i32 = -185;

/// Extra time to wait for librdkafka's own timeout result (it runs the request with the
/// same timeout), so a slow answer is reported as librdkafka saw it.
const POLL_GRACE: Duration = Duration::from_secs(1);

/// Submits one admin request on a private queue and waits for its result event, which
/// is returned only when neither librdkafka nor the broker reported a request-level error.
pub(super) fn run(
    client: &NativeClient,
    op: AdminOp,
    result_type: c_int,
    timeout: Duration,
    what: &str,
    submit: impl FnOnce(
        *mut sys::rd_kafka_t,
        *const sys::rd_kafka_AdminOptions_t,
        *mut sys::rd_kafka_queue_t,
    ),
) -> Result<Owned<sys::rd_kafka_event_t>, AdminError> {
    let rk = client.handle.as_ptr();
    // SAFETY: `rk` is alive as long as `client`. The queue is ours; destroying it while a
    // late result is still on its way is safe (librdkafka reference-counts queues).
    let queue = unsafe { Owned::new(sys::rd_kafka_queue_new(rk), sys::rd_kafka_queue_destroy) }?;
    // SAFETY: `rk` is alive and `op` a valid operation. The options are ours.
    let options = unsafe {
        Owned::new(
            sys::rd_kafka_AdminOptions_new(rk, op),
            sys::rd_kafka_AdminOptions_destroy,
        )
    }?;
    // librdkafka accepts 0..=1 hour.
    let timeout = timeout.min(Duration::from_secs(3600));
    let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let mut errstr = [0 as c_char; 512];
    // SAFETY: `options` is alive; `errstr` is a writable buffer of the given length.
    let code = unsafe {
        sys::rd_kafka_AdminOptions_set_request_timeout(
            options.as_ptr(),
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if code != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into `errstr` (or left it
        // zeroed, an empty string); the buffer is alive.
        let message = unsafe { c_str(errstr.as_ptr()) }.unwrap_or_default();
        return Err(AdminError::Other(format!(
            "{what}: invalid timeout: {message}"
        )));
    }

    submit(rk, options.as_ptr(), queue.as_ptr());

    let deadline = Instant::now() + timeout + POLL_GRACE;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AdminError::Timeout);
        }
        let wait_ms = c_int::try_from(remaining.as_millis().max(1)).unwrap_or(c_int::MAX);
        // SAFETY: the queue is alive. A returned event is ours (wrapped right below).
        let event = unsafe { sys::rd_kafka_queue_poll(queue.as_ptr(), wait_ms) };
        let Some(event) = NonNull::new(event) else {
            continue; // nothing yet: the loop re-checks the deadline
        };
        // SAFETY: a non-null event from rd_kafka_queue_poll is ours to destroy.
        let event = unsafe { Owned::from_non_null(event, sys::rd_kafka_event_destroy) };
        // SAFETY: the event is alive.
        if unsafe { sys::rd_kafka_event_type(event.as_ptr()) } != result_type {
            continue; // not ours (the queue is private, so this should not happen)
        }
        // SAFETY: the event is alive; its error string lives as long as it.
        let (code, message) = unsafe {
            (
                event_error_code(event.as_ptr()),
                c_str(sys::rd_kafka_event_error_string(event.as_ptr())),
            )
        };
        if code != 0 {
            return Err(kafka_error(code, message, what));
        }
        return Ok(event);
    }
}

/// The partitions of a group result, failing on the group's error or any partition's.
///
/// # Safety
/// `group_result` must point to a group result owned by a live event.
pub(super) unsafe fn group_result_partitions(
    group_result: *const sys::rd_kafka_group_result_t,
    group: &str,
) -> Result<Vec<GroupOffset>, AdminError> {
    // SAFETY: the caller guarantees the group result is alive; so are the error and the
    // partition list it hands out, whose `elems` holds `cnt` initialized elements.
    unsafe {
        let error = sys::rd_kafka_group_result_error(group_result);
        if !error.is_null() {
            return Err(error_object(error, &format!("group {group}")));
        }
        let list = sys::rd_kafka_group_result_partitions(group_result);
        if list.is_null() {
            return Ok(Vec::new());
        }
        let count = usize::try_from((*list).cnt).unwrap_or(0);
        let elements = (*list).elems;
        if count == 0 || elements.is_null() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(count);
        for index in 0..count {
            // Fields are read through the raw pointer, never through a reference to the
            // element: its `err` field is typed as a Rust enum the code may not fit.
            let element = elements.add(index);
            let topic = c_str((*element).topic)
                .ok_or_else(|| AdminError::Other("a result partition has no topic".into()))?;
            let partition = (*element).partition;
            // Read `err` as the plain C int it is (see `event_error_code`).
            let code = std::ptr::addr_of!((*element).err).cast::<c_int>().read();
            if code != 0 {
                return Err(kafka_error(
                    code,
                    None,
                    &format!("group {group}, partition {topic}/{partition}"),
                ));
            }
            out.push(GroupOffset {
                topic,
                partition,
                offset: (*element).offset,
            });
        }
        Ok(out)
    }
}

/// A Kafka error from a code and the broker's message (librdkafka's description of the
/// code when the broker gave none), naming what failed.
pub(super) fn kafka_error(code: c_int, message: Option<String>, context: &str) -> AdminError {
    if code == TIMED_OUT {
        return AdminError::Timeout;
    }
    // SAFETY: rd_kafka_err2name / err2str accept any code and return static strings.
    let (name, description) = unsafe { (c_str(err2name(code)), c_str(err2str(code))) };
    let message = message
        .filter(|m| !m.is_empty())
        .or(description)
        .unwrap_or_default();
    AdminError::Kafka {
        code,
        name: name.unwrap_or_else(|| format!("ERR_{code}")),
        message: format!("{context}: {message}"),
    }
}

/// Turns an error object (owned by the caller, or by something alive) into an
/// [`AdminError`] naming `context`.
///
/// # Safety
/// `error` must point to a live rd_kafka_error_t.
pub(super) unsafe fn error_object(
    error: *const sys::rd_kafka_error_t,
    context: &str,
) -> AdminError {
    // SAFETY: the caller guarantees `error` is alive; its string lives as long as it and
    // is copied here.
    let (code, message) = unsafe { (error_code(error), c_str(sys::rd_kafka_error_string(error))) };
    kafka_error(code, message, context)
}

/// librdkafka's name of a group state.
pub(super) fn state_name(state: sys::rd_kafka_consumer_group_state_t) -> String {
    // SAFETY: accepts any state of the enum, returns a static string.
    unsafe { c_str(sys::rd_kafka_consumer_group_state_name(state)) }
        .unwrap_or_else(|| "Unknown".into())
}

// ---------------------------------------------------------------------------------------
// Native handles.
// ---------------------------------------------------------------------------------------

// librdkafka passes broker error codes through unchanged, and a newer broker may send a
// code that rdkafka-sys's `rd_kafka_resp_err_t` Rust enum lacks: receiving such a value as
// that enum would be undefined behaviour. These declarations of the same C functions use
// the plain C int that `rd_kafka_resp_err_t` is in C.
unsafe extern "C" {
    #[link_name = "rd_kafka_event_error"]
    fn event_error_code(event: *mut sys::rd_kafka_event_t) -> c_int;
    #[link_name = "rd_kafka_error_code"]
    fn error_code(error: *const sys::rd_kafka_error_t) -> c_int;
    #[link_name = "rd_kafka_ConfigResource_error"]
    pub(super) fn config_resource_error_code(
        config: *const sys::rd_kafka_ConfigResource_t,
    ) -> c_int;
    #[link_name = "rd_kafka_err2name"]
    fn err2name(code: c_int) -> *const c_char;
    #[link_name = "rd_kafka_err2str"]
    fn err2str(code: c_int) -> *const c_char;
}

/// The dedicated librdkafka client (a producer-type handle that never produces: the
/// lightest kind; admin requests work on either kind).
pub(super) struct NativeClient {
    handle: Owned<sys::rd_kafka_t>,
}

// SAFETY: librdkafka's client handle is thread-safe: every API used here may be called
// from any thread, concurrently. The handle is only destroyed on drop, once.
unsafe impl Send for NativeClient {}
// SAFETY: as above; `&NativeClient` only hands out the pointer for thread-safe calls.
unsafe impl Sync for NativeClient {}

impl NativeClient {
    pub(super) fn new(access: &ClusterAccess) -> Result<Self, AdminError> {
        let config = access
            .client_config()
            .create_native_config()
            .map_err(|e| AdminError::Other(format!("invalid client configuration: {e}")))?;
        // SAFETY: the config is alive; `log_to_tracing` matches the callback signature and
        // is safe to call from librdkafka's threads.
        unsafe { sys::rd_kafka_conf_set_log_cb(config.ptr(), Some(log_to_tracing)) };
        // rd_kafka_new takes ownership of the config only when it succeeds.
        let config = ManuallyDrop::new(config);
        let mut errstr = [0 as c_char; 512];
        // SAFETY: the config is alive and `errstr` is a writable buffer of that length.
        let handle = unsafe {
            sys::rd_kafka_new(
                sys::rd_kafka_type_t::RD_KAFKA_PRODUCER,
                config.ptr(),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        let Some(handle) = NonNull::new(handle) else {
            // Still ours: free it.
            drop(ManuallyDrop::into_inner(config));
            // SAFETY: librdkafka wrote a NUL-terminated message (or left zeros).
            let message = unsafe { c_str(errstr.as_ptr()) }.unwrap_or_default();
            return Err(AdminError::Other(format!(
                "cannot create a Kafka client for {}: {message}",
                access.bootstrap
            )));
        };
        Ok(Self {
            // SAFETY: a fresh handle that now owns the config; destroyed once, on drop.
            handle: unsafe { Owned::from_non_null(handle, sys::rd_kafka_destroy) },
        })
    }
}

/// librdkafka's log lines (at the `log_level` of the client config) into `tracing`.
unsafe extern "C" fn log_to_tracing(
    _rk: *const sys::rd_kafka_t,
    level: c_int,
    facility: *const c_char,
    message: *const c_char,
) {
    // SAFETY: librdkafka passes NUL-terminated strings valid for the call (or null).
    let (facility, message) = unsafe { (c_str(facility), c_str(message)) };
    let (facility, message) = (facility.unwrap_or_default(), message.unwrap_or_default());
    match level {
        ..=3 => tracing::error!(target: "librdkafka", %facility, "{message}"),
        4 => tracing::warn!(target: "librdkafka", %facility, "{message}"),
        5 | 6 => tracing::info!(target: "librdkafka", %facility, "{message}"),
        _ => tracing::debug!(target: "librdkafka", %facility, "{message}"),
    }
}

/// A C object this code owns, freed with its destructor when dropped.
pub(super) struct Owned<T> {
    ptr: NonNull<T>,
    destroy: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// Takes ownership of what a librdkafka constructor returned; null means it failed.
    ///
    /// # Safety
    /// A non-null `ptr` must be an object the caller owns, and `destroy` its destructor.
    pub(super) unsafe fn new(
        ptr: *mut T,
        destroy: unsafe extern "C" fn(*mut T),
    ) -> Result<Self, AdminError> {
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            AdminError::Other(format!(
                "librdkafka could not create a {}",
                std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("object")
            ))
        })?;
        // SAFETY: forwarded from the caller.
        Ok(unsafe { Self::from_non_null(ptr, destroy) })
    }

    /// # Safety
    /// As for [`Owned::new`].
    unsafe fn from_non_null(ptr: NonNull<T>, destroy: unsafe extern "C" fn(*mut T)) -> Self {
        Self { ptr, destroy }
    }

    pub(super) fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the object is ours (constructor contract) and destroyed only here.
        unsafe { (self.destroy)(self.ptr.as_ptr()) }
    }
}

/// A result array owned by `event`, as a slice that cannot outlive it.
///
/// # Safety
/// `array` must be null or point to `count` elements owned by `event`.
pub(super) unsafe fn borrow_array<T>(
    _event: &Owned<sys::rd_kafka_event_t>,
    array: *mut *const T,
    count: usize,
) -> &[*const T] {
    if array.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `count` elements, alive as long as `event`.
        unsafe { std::slice::from_raw_parts(array.cast_const(), count) }
    }
}

/// A C string copied into a Rust string (invalid UTF-8 replaced); `None` for null.
///
/// # Safety
/// `ptr` must be null or a NUL-terminated string valid for the call.
pub(super) unsafe fn c_str(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a valid NUL-terminated string.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

pub(super) fn c_string(value: &str, what: &str) -> Result<CString, AdminError> {
    CString::new(value)
        .map_err(|_| AdminError::Other(format!("{what} {value:?} contains a NUL byte")))
}

pub(super) fn non_null<T>(ptr: *const T, what: &str) -> Result<*const T, AdminError> {
    if ptr.is_null() {
        Err(AdminError::Other(format!("librdkafka returned no {what}")))
    } else {
        Ok(ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_get_librdkafka_names_and_a_context() {
        let AdminError::Kafka {
            code,
            name,
            message,
        } = kafka_error(3, Some(String::new()), "topic t")
        else {
            panic!("not a Kafka error");
        };
        assert_eq!((code, name.as_str()), (3, "UNKNOWN_TOPIC_OR_PART"));
        assert!(message.starts_with("topic t: "), "{message}");
        assert!(matches!(
            kafka_error(TIMED_OUT, None, "x"),
            AdminError::Timeout
        ));
    }

    #[test]
    fn codes_librdkafka_does_not_know_are_still_reported() {
        let AdminError::Kafka { code, message, .. } =
            kafka_error(4242, Some("new broker error".into()), "group g")
        else {
            panic!("not a Kafka error");
        };
        assert_eq!(code, 4242);
        assert_eq!(message, "group g: new broker error");
    }

    #[test]
    fn state_names_are_librdkafkas() {
        use sys::rd_kafka_consumer_group_state_t as S;
        assert_eq!(
            state_name(S::RD_KAFKA_CONSUMER_GROUP_STATE_STABLE),
            "Stable"
        );
        assert_eq!(state_name(S::RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY), "Empty");
    }

    #[test]
    fn nul_bytes_are_refused_before_reaching_c() {
        assert!(matches!(
            c_string("a\0b", "topic name"),
            Err(AdminError::Other(_))
        ));
    }
}
