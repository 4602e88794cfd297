// gpu.hpp — the device side of a Model and of a Session, as lib/model and lib/session
// see it. A Model loaded with Device::cuda holds a DeviceModel (its weights in device
// memory); each of its Sessions holds a SessionDevice (its state and work buffers there)
// and runs detail::forward's data path on the device. No CUDA header here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cuda/runtime.hpp"

namespace kaa::detail {
struct ModelImpl;
struct Segment;
}  // namespace kaa::detail

namespace kaa::detail::gpu {

struct DeviceModel;
class SessionDevice;
struct SessionDeviceDeleter {
    void operator()(SessionDevice* s) const noexcept;
};
using SessionDevicePtr = std::unique_ptr<SessionDevice, SessionDeviceDeleter>;

// Uploads m's weights through `rt` and sets m.gpu; then, with
// ModelParams::release_host_weights, gives the host pages of the weights back to the OS.
// Throws Error(unsupported) for shapes the kernels do not handle, Error(out_of_memory)
// saying how much device memory is needed and free.
void attach(ModelImpl& m, std::shared_ptr<Runtime> rt);

// A Session's device state (zero) and buffers for up to `capacity` tokens per forward.
SessionDevicePtr make_session(const ModelImpl& m, int64_t capacity);
// The Segment::state pointer of this Session (device memory, StateDims layout).
float* device_state(SessionDevice& s);
// forward() of lib/session/forward.hpp on the device; segs[i].state are device_state()s
// of Sessions of the same model; `s` provides the buffers. Total tokens <= capacity.
void forward(const ModelImpl& m, SessionDevice& s, const Segment* segs, size_t n_segs);

// The state between device and host (StateDims layout, model.state_dims().floats()).
void download_state(SessionDevice& s, float* host);
void upload_state(SessionDevice& s, const float* host);
void zero_state(SessionDevice& s);

}  // namespace kaa::detail::gpu
