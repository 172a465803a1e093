#include "redis_link.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace minibit::tracker {
namespace {

using std::chrono::milliseconds;

/// How often the reply deadline is checked while commands wait.
constexpr milliseconds reply_check_period{250};

}  // namespace

/// A command's callback, heap-held while hiredis owns its privdata.
struct redis_link::waiting {
    redis_link* link;
    reply_fn fn;
};

redis_link::redis_link(io::reactor& r, store_address address, milliseconds connect_timeout,
                       milliseconds reply_timeout, handlers h)
    : r_(r),
      address_(std::move(address)),
      connect_timeout_(connect_timeout),
      reply_timeout_(reply_timeout),
      handlers_(std::move(h)) {}

redis_link::~redis_link() {
    if (abandoned_) return;
    close();
    cancel_timers();
}

void redis_link::abandon() {
    abandoned_ = true;
    closing_ = true;
    state_ = link_state::down;
    if (ctx_ != nullptr) {
        redisAsyncContext* ac = ctx_;
        ctx_ = nullptr;
        ac->ev.cleanup = nullptr;  // the watch died with the reactor
        ac->ev.addRead = ac->ev.delRead = ac->ev.addWrite = ac->ev.delWrite = nullptr;
        redisAsyncFree(ac);
    }
}

void redis_link::cancel_timers() {
    for (auto* t : {&connect_timer_, &reply_timer_, &notify_timer_}) {
        if (*t) r_.cancel_timer(**t);
        t->reset();
    }
}

void redis_link::connect() {
    if (state_ != link_state::down || ctx_ != nullptr) return;
    closing_ = false;
    down_reason_.clear();
    // hiredis 0.14.1 resolves with a blocking getaddrinfo: address_.host is an IP literal here
    // (store_address::resolve at start-up), so the call returns at once.
    redisAsyncContext* ac = address_.unix_socket
                                ? redisAsyncConnectUnix(address_.path.c_str())
                                : redisAsyncConnect(address_.host.c_str(), address_.port);
    if (ac == nullptr) return fail("out of memory");
    if (ac->err != 0) {
        const std::string why = ac->errstr;
        redisAsyncFree(ac);  // never connected: no callbacks, no hooks set
        return fail(why);
    }
    state_ = link_state::connecting;
    auto w = r_.watch_fd(ac->c.fd, io::fd_interest::none, [this](io::fd_interest ready) {
        // Each call may free the context (hook_cleanup clears ctx_): check before the next.
        if (io::has(ready, io::fd_interest::read) && ctx_ != nullptr) redisAsyncHandleRead(ctx_);
        if (io::has(ready, io::fd_interest::write) && ctx_ != nullptr) redisAsyncHandleWrite(ctx_);
    });
    if (!w) {
        redisAsyncFree(ac);
        return fail(w.error().message());
    }
    ctx_ = ac;
    watch_ = *w;
    interest_ = io::fd_interest::none;
    state_ = link_state::connecting;
    ac->data = this;
    // The hooks go in before the connect callback: setting it calls addWrite at once.
    ac->ev.data = this;
    ac->ev.addRead = hook_add_read;
    ac->ev.delRead = hook_del_read;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    connect_timer_ = r_.add_timer(connect_timeout_, [this] {
        connect_timer_.reset();
        if (state_ == link_state::connecting) fail("connect timed out");
    });
}

void redis_link::on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<redis_link*>(ac->data);
    if (self->connect_timer_) self->r_.cancel_timer(*self->connect_timer_);
    self->connect_timer_.reset();
    if (status != REDIS_OK) {
        // hiredis frees the context right after this returns (hook_cleanup reports it).
        self->down_reason_ = ac->errstr != nullptr ? ac->errstr : "connect failed";
        return;
    }
    self->state_ = link_state::up;
    self->last_progress_ = self->r_.now();
    if (self->address_.db != 0) {
        const std::string db = std::to_string(self->address_.db);
        const std::string select = "*2\r\n$6\r\nSELECT\r\n$" + std::to_string(db.size()) + "\r\n" +
                                   db + "\r\n";
        self->send(select, [self, db](const redisReply* r) {
            if (r != nullptr && r->type == REDIS_REPLY_ERROR)
                self->fail("SELECT " + db + ": " + r->str);
        });
    }
    self->notify(link_state::up);
}

void redis_link::notify(link_state event) {
    // Delivered from a timer, outside hiredis: the owner may send, close or reconnect there.
    // The last event wins (down after up: the owner only hears down).
    event_ = event;
    if (notify_timer_) return;
    notify_timer_ = r_.add_timer(milliseconds(0), [this] {
        notify_timer_.reset();
        const auto e = std::exchange(event_, std::nullopt);
        if (e == link_state::up && state_ == link_state::up && handlers_.on_up) handlers_.on_up();
        if (e == link_state::down && state_ == link_state::down && handlers_.on_down) {
            handlers_.on_down(down_reason_.empty() ? "connection lost" : down_reason_);
        }
    });
}

bool redis_link::send(std::string_view resp, reply_fn fn) {
    if (state_ != link_state::up || ctx_ == nullptr || closing_) return false;
    waiting* w = fn ? new waiting{this, std::move(fn)} : nullptr;
    void* priv = w != nullptr ? static_cast<void*>(w) : static_cast<void*>(this);
    redisCallbackFn* cb = w != nullptr ? on_reply : [](redisAsyncContext* ac, void* reply, void*) {
        auto* self = static_cast<redis_link*>(ac->data);
        --self->pending_;
        if (!self->abandoned_) self->last_progress_ = self->r_.now();
        const auto* rep = static_cast<const redisReply*>(reply);
        if (rep != nullptr && rep->type == REDIS_REPLY_ERROR) ++self->error_replies_;
    };
    if (redisAsyncFormattedCommand(ctx_, cb, priv, resp.data(), resp.size()) != REDIS_OK) {
        delete w;
        return false;
    }
    if (pending_++ == 0) last_progress_ = r_.now();
    if (!reply_timer_) {
        reply_timer_ = r_.add_timer(reply_check_period, [this] {
            reply_timer_.reset();
            check_replies();
        });
    }
    return true;
}

void redis_link::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
    auto* w = static_cast<waiting*>(privdata);
    redis_link* self = w->link;
    --self->pending_;
    if (!self->abandoned_) self->last_progress_ = self->r_.now();
    (void)ac;
    reply_fn fn = std::move(w->fn);
    delete w;
    fn(static_cast<const redisReply*>(reply));
}

void redis_link::check_replies() {
    if (state_ != link_state::up || pending_ == 0) return;
    if (r_.now() - last_progress_ > reply_timeout_) {
        fail("no reply for " + std::to_string(reply_timeout_.count()) + " ms");
        return;
    }
    reply_timer_ = r_.add_timer(reply_check_period, [this] {
        reply_timer_.reset();
        check_replies();
    });
}

void redis_link::kick() {
    if (state_ == link_state::up && ctx_ != nullptr) redisAsyncHandleWrite(ctx_);
}

void redis_link::fail(const std::string& why) {
    down_reason_ = why;
    if (ctx_ != nullptr) {
        redisAsyncFree(ctx_);  // null replies to every waiter; hook_cleanup reports down
    } else {
        report_down();
    }
}

void redis_link::close() {
    closing_ = true;
    if (ctx_ != nullptr) redisAsyncFree(ctx_);
    state_ = link_state::down;
}

void redis_link::report_down() {
    state_ = link_state::down;
    if (connect_timer_) r_.cancel_timer(*connect_timer_);
    connect_timer_.reset();
    if (!closing_) notify(link_state::down);
}

void redis_link::set_interest(io::fd_interest bit, bool on) {
    const io::fd_interest next = on ? (interest_ | bit)
                                    : static_cast<io::fd_interest>(
                                          static_cast<unsigned>(interest_) &
                                          ~static_cast<unsigned>(bit));
    if (next == interest_ || !watch_) return;
    interest_ = next;
    (void)r_.set_interest(*watch_, next);
}

void redis_link::hook_add_read(void* self) {
    static_cast<redis_link*>(self)->set_interest(io::fd_interest::read, true);
}
void redis_link::hook_del_read(void* self) {
    static_cast<redis_link*>(self)->set_interest(io::fd_interest::read, false);
}
void redis_link::hook_add_write(void* self) {
    static_cast<redis_link*>(self)->set_interest(io::fd_interest::write, true);
}
void redis_link::hook_del_write(void* self) {
    static_cast<redis_link*>(self)->set_interest(io::fd_interest::write, false);
}

void redis_link::hook_cleanup(void* self) {
    // hiredis frees the context after this (and 0.14.1 may call it twice): forget the socket
    // before hiredis closes it, so the watch ends first.
    auto* link = static_cast<redis_link*>(self);
    if (link->ctx_ == nullptr) return;
    if (link->down_reason_.empty() && link->ctx_->errstr != nullptr) {
        link->down_reason_ = link->ctx_->errstr;
    }
    if (link->watch_) link->r_.unwatch_fd(*link->watch_);
    link->watch_.reset();
    link->ctx_ = nullptr;
    link->interest_ = io::fd_interest::none;
    link->report_down();
}

}  // namespace minibit::tracker
