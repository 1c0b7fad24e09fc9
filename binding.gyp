{
  "targets": [
    {
      "target_name": "berth_socket",
      "sources": ["native/socket.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "berth_hash",
      "sources": ["native/hash.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "berth_aligned",
      "sources": ["native/aligned.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
