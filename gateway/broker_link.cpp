#include "gateway/broker_link.hpp"

namespace gpufleet::gateway {

BrokerLink::BrokerLink(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 1000);
  socket_.set(zmq::sockopt::sndhwm, 100000);
  socket_.set(zmq::sockopt::reconnect_ivl, 100);
  socket_.set(zmq::sockopt::reconnect_ivl_max, 2000);
  socket_.connect(endpoint);
}

bool BrokerLink::submit(const protocol::Submit& submit) {
  const std::string header = protocol::encode_header(protocol::MessageType::kSubmit);
  const std::string body = protocol::encode_body(submit);
  std::lock_guard lock(mutex_);
  // A two-part message is queued atomically: if the first part is accepted, so is the second.
  if (!socket_.send(zmq::buffer(header), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
  socket_.send(zmq::buffer(body), zmq::send_flags::none);
  return true;
}

}  // namespace gpufleet::gateway
