package api

func registerDiscovery(s *Server) {
}
