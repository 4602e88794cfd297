// cuda_kernels.hpp — host entry points of the CUDA kernels (kernels/cuda/*.cu), used by
// lib/cuda's CUDA runtime. `stream` is a cudaStream_t. A launch that fails (bad
// configuration, no kernel image for the device) throws Error(internal); errors while
// running surface at the next synchronization.
#pragma once

#include "kernels/cuda/params.hpp"

namespace kaa::kernels::cuda {

void matmul(const MatmulArgs& a, void* stream);
void conv(const ConvArgs& a, void* stream);
void scan(const ScanArgs& a, void* stream);
void rms(const RmsArgs& a, void* stream);
void embed(const EmbedArgs& a, void* stream);
void repack(const RepackArgs& a, void* stream);

// cuBLAS for prefill matmuls (blas.cu): loaded on first use; none of these throw.
bool blas_available();
void* blas_create(void* stream, void* workspace, size_t workspace_bytes);  // nullptr: unavailable
void blas_destroy(void* handle);
bool blas_eligible(const MatmulArgs& a);  // matmul() then takes the cuBLAS path

}  // namespace kaa::kernels::cuda
