package api

func registerEvents(s *Server) {
}
