#include "peer_reactor.hpp"

#include <utility>

#include "peer_log.hpp"

namespace minibit::loadgen {

void peer_reactor::post(io::task_fn task) {
    inner_.post([peer = peer_, task = std::move(task)] {
        const peer_scope scope(peer);
        task();
    });
}

io::timer_id peer_reactor::add_timer(clock::duration delay, io::task_fn fn) {
    return inner_.add_timer(delay, [peer = peer_, fn = std::move(fn)] {
        const peer_scope scope(peer);
        fn();
    });
}

result<io::listener_id> peer_reactor::listen(const io::address& addr, io::listen_options options,
                                             io::accept_fn on_accept) {
    return inner_.listen(
        addr, options,
        [this, fn = std::move(on_accept)](io::connection c, const io::address& from) {
            const peer_scope scope(peer_);
            fn(io::connection(this, c.id()), from);
        });
}

void peer_reactor::connect(const io::address& addr, io::connect_fn on_connected) {
    inner_.connect(addr, [this, fn = std::move(on_connected)](result<io::connection> c) {
        const peer_scope scope(peer_);
        if (c) {
            fn(io::connection(this, c->id()));
        } else {
            fn(std::move(c));
        }
    });
}

result<void> peer_reactor::start(io::conn_id id, io::conn_handlers handlers) {
    io::conn_handlers wrapped;
    wrapped.on_data = [peer = peer_,
                       fn = std::move(handlers.on_data)](std::span<const std::byte> bytes) {
        const peer_scope scope(peer);
        if (fn) fn(bytes);
    };
    wrapped.on_close = [peer = peer_,
                        fn = std::move(handlers.on_close)](const std::optional<error>& why) {
        const peer_scope scope(peer);
        if (fn) fn(why);
    };
    return inner_.start(id, std::move(wrapped));
}

result<void> peer_reactor::send_borrowed(io::conn_id id, std::span<const std::byte> bytes,
                                         io::release_fn on_released) {
    return inner_.send_borrowed(
        id, bytes, [peer = peer_, fn = std::move(on_released)](const std::optional<error>& why) {
            const peer_scope scope(peer);
            if (fn) fn(why);
        });
}

result<io::udp_id> peer_reactor::bind_udp(const io::address& addr, io::reuse_port reuse,
                                          io::datagram_fn on_datagram) {
    return inner_.bind_udp(addr, reuse,
                           [peer = peer_, fn = std::move(on_datagram)](
                               std::span<const std::byte> bytes, const io::address& from) {
                               const peer_scope scope(peer);
                               fn(bytes, from);
                           });
}

}  // namespace minibit::loadgen
